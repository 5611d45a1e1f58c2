"""Fuel logs: fills of a vehicle, each with its odometer reading; consumption between full tanks."""
