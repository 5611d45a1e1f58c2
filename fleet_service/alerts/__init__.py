"""Alerts for managers: maintenance due, documents expiring, failed inspections."""
