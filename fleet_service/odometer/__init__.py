"""The odometer ledger: append-only readings from which a vehicle's odometer is derived."""
