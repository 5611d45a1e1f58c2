"""Trips: check-out and check-in of a vehicle by a driver, with their odometer readings."""
