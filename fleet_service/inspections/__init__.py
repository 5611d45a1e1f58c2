"""Inspections: checklists of a vehicle; a failed critical item sends it to the workshop."""
