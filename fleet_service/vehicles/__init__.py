"""Vehicles: the registry every other fleet record hangs from."""
