"""Reports: distance, fuel, consumption and costs of a vehicle or the fleet over a period."""
