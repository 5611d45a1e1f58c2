"""What each constraint of the fleet schema answers when it refuses a write.

The constraints are the rules (unique plates, no overlapping assignments, one
open trip); this table only names the error each refusal stands for, and
``shared.errors`` answers with it wherever the write happened.
"""

from __future__ import annotations

from shared.errors import Conflict

CONFLICTS = {
    "uq_vehicles_plate_active": Conflict(
        "plate_taken", "Another vehicle in service has this plate"
    ),
    "uq_vehicles_vin_active": Conflict("vin_taken", "Another vehicle in service has this VIN"),
    "uq_drivers_user_id": Conflict("driver_exists", "This user already has a driver record"),
    "uq_drivers_license_number": Conflict(
        "license_number_taken", "Another driver has this license number"
    ),
    "ex_assignments_vehicle_overlap": Conflict(
        "assignment_overlap",
        "The period overlaps another assignment",
        field="vehicle_id",
        detail="the vehicle is assigned in this period",
    ),
    "ex_assignments_driver_overlap": Conflict(
        "assignment_overlap",
        "The period overlaps another assignment",
        field="driver_id",
        detail="the driver is assigned in this period",
    ),
    # The vehicle's row lock orders its check-outs: a race is the driver's.
    "uq_trips_vehicle_open": Conflict("trip_already_open", "The vehicle is already out on a trip"),
    "uq_trips_driver_open": Conflict("trip_already_open", "The driver is already out on a trip"),
}
