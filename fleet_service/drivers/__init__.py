"""Drivers: the fleet's record of an auth user who drives (license and category)."""
