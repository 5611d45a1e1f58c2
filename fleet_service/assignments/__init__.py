"""Assignments: which driver has which vehicle, over which period."""
