"""Documents of vehicles and drivers (registration, insurance, permits…) and their validity."""
