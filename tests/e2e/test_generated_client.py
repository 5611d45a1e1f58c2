"""A client generated from the OpenAPI document works first time (issue 15).

openapi-python-client makes a Python package from the running stack's
``/api/v1/openapi.json`` (tests/support/generated_client.py: decimals as ``Decimal``), and a
manager's day and a driver's day are played with nothing but that package — its clients, its
operations' ``sync_detailed``, its models. Answers are checked as the generated code types
them (models, UUIDs, datetimes, Decimals), and every status must be one the document declares:
the clients raise ``UnexpectedStatus`` on any other.
"""

from __future__ import annotations

import inspect
import io
import string
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http import HTTPStatus
from typing import Any
from uuid import UUID

import pytest
import requests
from PIL import Image

from tests.e2e.conftest import ADMIN_PASSWORD, RunningStack
from tests.e2e.helpers import ADMIN_NEW_PASSWORD
from tests.support.generated_client import GeneratedClient, generate_client, imported

OK, CREATED = HTTPStatus.OK, HTTPStatus.CREATED


@pytest.fixture(scope="module")
def frota(
    e2e_stack: RunningStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GeneratedClient]:
    """The client generated from the document the stack serves, imported for this module."""
    document = requests.get(f"{e2e_stack.url}/api/v1/openapi.json", timeout=10)
    assert document.status_code == 200, document.text
    generation = generate_client(document.json(), tmp_path_factory.mktemp("generated-client"))
    # A warning is a part of the document the generator could not turn into code.
    assert generation.returncode == 0, generation.output
    assert not generation.warned, generation.output
    with imported(generation) as package:
        client = GeneratedClient(package, e2e_stack.url)
        try:
            yield client
        finally:
            client.close()


# --- answers ------------------------------------------------------------------------------


def answered(response: Any, status: HTTPStatus, model: Any) -> Any:
    """The parsed answer, once its status is ``status`` and it parsed as ``model``."""
    assert response.status_code == status, (response.status_code, response.content)
    assert isinstance(response.parsed, model), response.parsed
    return response.parsed


def refused(frota: GeneratedClient, response: Any, status: HTTPStatus, code: str) -> Any:
    """The parsed error (the documented ``HTTPError`` model) of a refusal with ``code``."""
    error = answered(response, status, frota.models.HTTPError).error
    assert error.code == code, error
    assert isinstance(error.request_id, str)
    return error


# --- people -------------------------------------------------------------------------------


def log_in(frota: GeneratedClient, username: str, password: str) -> Any:
    body = frota.models.LoginIn(username=username, password=password)
    response = frota.operation("auth_login").sync_detailed(client=frota.anonymous(), body=body)
    return answered(response, OK, frota.models.TokensOut)


def past_the_password_gate(
    frota: GeneratedClient, tokens: Any, password: str, new_password: str | None = None
) -> Any:
    """A client of a user who logged in with a one-time ``password``, after changing it."""
    assert tokens.must_change_password is True
    gated = frota.authenticated(tokens.access_token)
    # Until the change, protected operations answer their documented 403.
    listed = frota.operation("vehicles_list").sync_detailed(client=gated)
    refused(frota, listed, HTTPStatus.FORBIDDEN, "password_change_required")
    change = frota.models.PasswordChangeIn(
        current_password=password, new_password=new_password or f"pw-{uuid.uuid4().hex}"
    )
    changed = frota.operation("auth_change_password").sync_detailed(client=gated, body=change)
    fresh = answered(changed, OK, frota.models.TokensOut)
    assert fresh.must_change_password is False
    assert fresh.token_type == "Bearer"
    return frota.authenticated(fresh.access_token)


@pytest.fixture(scope="module")
def admin(frota: GeneratedClient) -> Any:
    """The first admin, whom other e2e tests share: the one-time password may already have
    been changed to ADMIN_NEW_PASSWORD (as tests/e2e/helpers.py admin_token does)."""
    body = frota.models.LoginIn(username="admin", password=ADMIN_PASSWORD)
    first = frota.operation("auth_login").sync_detailed(client=frota.anonymous(), body=body)
    if first.status_code == OK:
        tokens = answered(first, OK, frota.models.TokensOut)
        return past_the_password_gate(frota, tokens, ADMIN_PASSWORD, ADMIN_NEW_PASSWORD)
    refused(frota, first, HTTPStatus.UNAUTHORIZED, "invalid_credentials")
    return frota.authenticated(log_in(frota, "admin", ADMIN_NEW_PASSWORD).access_token)


def new_user(frota: GeneratedClient, admin: Any, role: str) -> tuple[Any, str]:
    """A user the admin made without a password: the user and its one-time password."""
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    body = frota.models.UserCreateIn(
        username=username, full_name=username.title(), role=frota.models.UserCreateInRole(role)
    )
    created = frota.operation("auth_create_user").sync_detailed(client=admin, body=body)
    user = answered(created, CREATED, frota.models.UserCreatedOut)
    assert isinstance(user.id, UUID)
    assert isinstance(user.created_at, datetime)
    assert user.created_at.tzinfo is not None
    assert (user.role, user.must_change_password) == (role, True)
    assert isinstance(user.one_time_password, str)
    return user, user.one_time_password


@pytest.fixture(scope="module")
def manager(frota: GeneratedClient, admin: Any) -> Any:
    user, one_time_password = new_user(frota, admin, "manager")
    client = past_the_password_gate(
        frota, log_in(frota, user.username, one_time_password), one_time_password
    )
    me = answered(frota.operation("auth_me").sync_detailed(client=client), OK, frota.models.UserOut)
    assert (me.id, me.role, me.must_change_password) == (user.id, "manager", False)
    return client


# --- the fleet ----------------------------------------------------------------------------


def unique_plate() -> str:
    """A Mercosul plate (ABC1D23) no other test is likely to have taken."""
    n = uuid.uuid4().int
    letters = [string.ascii_uppercase[(n >> (5 * i)) % 26] for i in range(4)]
    digits = f"{(n >> 40) % 1000:03d}"
    return f"{''.join(letters[:3])}{digits[0]}{letters[3]}{digits[1:]}"


def register_vehicle(frota: GeneratedClient, manager: Any, model: str) -> Any:
    m = frota.models
    body = m.VehicleCreateIn(
        plate=unique_plate(),
        make="Fiat",
        model=model,
        year=2023,
        fuel_types=[
            m.VehicleCreateInFuelTypesItem.GASOLINE,
            m.VehicleCreateInFuelTypesItem.ETHANOL,
        ],
        tank_capacity_l=Decimal("55.0"),
    )
    created = frota.operation("vehicles_create").sync_detailed(client=manager, body=body)
    vehicle = answered(created, CREATED, m.VehicleOut)
    assert isinstance(vehicle.id, UUID)
    assert vehicle.plate == body.plate
    assert vehicle.status == "active"
    assert sorted(vehicle.fuel_types) == ["ethanol", "gasoline"]
    assert isinstance(vehicle.tank_capacity_l, Decimal)
    assert vehicle.tank_capacity_l == Decimal("55.0")
    return vehicle


def register_driver(frota: GeneratedClient, manager: Any, user: Any) -> Any:
    m = frota.models
    body = m.DriverCreateIn(
        user_id=user.id,
        license_number=f"CNH-{uuid.uuid4().hex[:12]}",
        license_category=m.DriverCreateInLicenseCategory.B,
        license_expires_on=date.today() + timedelta(days=3 * 365),
    )
    created = frota.operation("drivers_create").sync_detailed(client=manager, body=body)
    driver = answered(created, CREATED, m.DriverOut)
    assert (driver.user_id, driver.full_name) == (user.id, user.full_name)
    assert driver.license_expires_on == body.license_expires_on
    return driver


def assign(frota: GeneratedClient, manager: Any, vehicle: Any, driver: Any) -> Any:
    body = frota.models.AssignmentCreateIn(
        vehicle_id=vehicle.id,
        driver_id=driver.id,
        starts_at=datetime.now(UTC) - timedelta(hours=1),
    )
    return frota.operation("assignments_create").sync_detailed(client=manager, body=body)


def check_out(
    frota: GeneratedClient, client: Any, vehicle: Any, km: int, driver: Any | None = None
) -> Any:
    m = frota.models
    body = m.TripCheckOutIn(vehicle_id=vehicle.id, odometer_km=km, purpose="deliveries")
    if driver is not None:  # a manager checks out on a driver's behalf
        body.driver_id = driver.id
    created = frota.operation("trips_check_out").sync_detailed(client=client, body=body)
    trip = answered(created, CREATED, m.TripOut)
    assert (trip.vehicle_id, trip.start_km, trip.end_km) == (vehicle.id, km, None)
    assert isinstance(trip.started_at, datetime)
    return trip


def check_in(frota: GeneratedClient, client: Any, trip: Any, km: int) -> Any:
    body = frota.models.TripCheckInIn(odometer_km=km)
    checked = frota.operation("trips_check_in").sync_detailed(trip.id, client=client, body=body)
    closed = answered(checked, OK, frota.models.TripOut)
    assert (closed.id, closed.end_km, closed.distance_km) == (trip.id, km, km - trip.start_km)
    assert isinstance(closed.ended_at, datetime)
    assert closed.ended_at >= closed.started_at
    return closed


def log_fuel(
    frota: GeneratedClient, client: Any, vehicle: Any, km: int, liters: str, cost: str
) -> Any:
    """A full tank of ethanol; the log must come back with the very decimals sent."""
    m = frota.models
    body = m.FuelLogCreateIn(
        vehicle_id=vehicle.id,
        filled_at=datetime.now(UTC),
        odometer_km=km,
        fuel_type=m.FuelLogCreateInFuelType.ETHANOL,
        liters=Decimal(liters),
        total_cost=Decimal(cost),
        full_tank=True,
        station="Posto Central",
    )
    logged = answered(
        frota.operation("fuel_log").sync_detailed(client=client, body=body), CREATED, m.FuelLogOut
    )
    for value, sent in ((logged.liters, liters), (logged.total_cost, cost)):
        assert isinstance(value, Decimal)
        assert str(value) == sent  # the same digits, places included
    assert isinstance(logged.unit_price, Decimal)
    assert logged.unit_price == (Decimal(cost) / Decimal(liters)).quantize(Decimal("0.001"))
    read = frota.operation("fuel_get_log").sync_detailed(logged.id, client=client)
    assert answered(read, OK, m.FuelLogOut) == logged
    return logged


def vehicles_named(frota: GeneratedClient, client: Any, model: str) -> list[UUID]:
    """Every vehicle of ``model``, two a page, following ``next_cursor`` (docs/api.md)."""
    ids: list[UUID] = []
    pages, cursor = 0, None
    while True:
        listed = frota.operation("vehicles_list").sync_detailed(
            client=client, q=model, limit=2, **({"cursor": cursor} if cursor else {})
        )
        page = answered(listed, OK, frota.models.VehiclePage)
        assert len(page.items) <= 2
        ids += [vehicle.id for vehicle in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            return ids
        assert isinstance(cursor, str)
        assert pages < 10, "the cursor does not move on"


def period(started: datetime) -> dict[str, datetime]:
    return {"from_": started - timedelta(minutes=5), "to": datetime.now(UTC) + timedelta(minutes=1)}


# --- the days -----------------------------------------------------------------------------


def test_the_managers_day_through_the_generated_client(
    frota: GeneratedClient, admin: Any, manager: Any
) -> None:
    started = datetime.now(UTC)
    model = f"Strada {uuid.uuid4().hex[:8]}"
    vehicles = [register_vehicle(frota, manager, model) for _ in range(3)]
    assert vehicles_named(frota, manager, model) == [vehicle.id for vehicle in vehicles]
    vehicle = vehicles[0]

    driver_user, _ = new_user(frota, admin, "driver")
    driver = register_driver(frota, manager, driver_user)
    assignment = answered(
        assign(frota, manager, vehicle, driver), CREATED, frota.models.AssignmentOut
    )
    assert (assignment.vehicle_id, assignment.driver_id) == (vehicle.id, driver.id)
    # One driver, two vehicles at once: the routine conflict, as its documented 409.
    refused(
        frota,
        assign(frota, manager, vehicles[1], driver),
        HTTPStatus.CONFLICT,
        "assignment_overlap",
    )

    trip = check_out(frota, manager, vehicle, 12000, driver=driver)
    assert trip.driver_id == driver.id
    check_in(frota, manager, trip, 12180)
    log_fuel(frota, manager, vehicle, 12180, "40.500", "170.10")
    log_fuel(frota, manager, vehicle, 12600, "38.250", "160.65")
    record_maintenance(frota, manager, vehicle, 12600, "350.00")
    odometer_cannot_go_back(frota, manager, vehicle, latest_km=12600)

    failed_inspection_alerts_until_resolved(frota, manager, vehicle)
    read_the_reports(frota, manager, vehicle, started)


def record_maintenance(
    frota: GeneratedClient, manager: Any, vehicle: Any, km: int, cost: str
) -> None:
    m = frota.models
    body = m.RecordCreateIn(
        vehicle_id=vehicle.id,
        performed_at=datetime.now(UTC),
        odometer_km=km,
        # A computed Decimal may be in exponent form (350.00 normalised is 3.5E+2), which
        # the API refuses as text: the generated model must send its plain digits.
        cost=Decimal(cost).normalize(),
        vendor="Oficina do Zé",
        notes="oil and filters",
    )
    made = frota.operation("maintenance_record").sync_detailed(client=manager, body=body)
    record = answered(made, CREATED, m.RecordOut)
    assert isinstance(record.cost, Decimal)
    assert str(record.cost) == cost


def odometer_cannot_go_back(
    frota: GeneratedClient, manager: Any, vehicle: Any, latest_km: int
) -> None:
    body = frota.models.ReadingCreateIn(km=latest_km - 1000, read_at=datetime.now(UTC))
    recorded = frota.operation("odometer_record_reading").sync_detailed(
        vehicle.id, client=manager, body=body
    )
    error = refused(frota, recorded, HTTPStatus.CONFLICT, "odometer_not_monotonic")
    assert error.details["previous"]["km"] == latest_km


def upload_photo(frota: GeneratedClient, client: Any) -> tuple[Any, bytes]:
    m = frota.models
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (180, 40, 40)).save(buffer, "JPEG")
    photo = buffer.getvalue()
    body = m.UploadIn(
        file=frota.package.types.File(
            payload=io.BytesIO(photo), file_name="brakes.jpg", mime_type="image/jpeg"
        ),
        kind=m.UploadInKind.PHOTO,
    )
    uploaded = frota.operation("media_upload_file").sync_detailed(client=client, body=body)
    file = answered(uploaded, CREATED, m.MediaFileOut)
    assert isinstance(file.id, UUID)
    assert (file.content_type, file.size, file.width, file.height) == (
        "image/jpeg",
        len(photo),
        64,
        48,
    )
    assert isinstance(file.expires_at, datetime)
    return file, photo


def failed_inspection_alerts_until_resolved(
    frota: GeneratedClient, manager: Any, vehicle: Any
) -> None:
    m = frota.models
    file, photo = upload_photo(frota, manager)
    content = frota.operation("media_get_file_content").sync_detailed(file.id, client=manager)
    assert answered(content, OK, frota.package.types.File).payload.read() == photo

    body = m.InspectionCreateIn(
        vehicle_id=vehicle.id,
        items=[
            m.InspectionItemIn(item="lights", ok=True),
            m.InspectionItemIn(
                item="brakes",
                ok=False,
                severity=severity_enum(frota).CRITICAL,
                note="pedal goes to the floor",
                media_ids=[file.id],
            ),
        ],
    )
    recorded = frota.operation("inspections_record").sync_detailed(client=manager, body=body)
    inspection = answered(recorded, CREATED, m.InspectionOut)
    assert (inspection.failed, inspection.failure_severity) == (True, "critical")
    assert inspection.items[1].media_ids == [file.id]
    assert isinstance(inspection.inspected_at, datetime)
    read = frota.operation("vehicles_get").sync_detailed(vehicle.id, client=manager)
    assert answered(read, OK, m.VehicleOut).status == "workshop"
    assert inspection.id in inspection_alerts(frota, manager)

    resolution = m.InspectionResolveIn(note="brakes replaced")
    resolving = frota.operation("inspections_resolve").sync_detailed(
        inspection.id, client=manager, body=resolution
    )
    resolved = answered(resolving, OK, m.InspectionOut)
    assert isinstance(resolved.resolved_at, datetime)
    assert resolved.resolution_note == "brakes replaced"
    assert inspection.id not in inspection_alerts(frota, manager)


def severity_enum(frota: GeneratedClient) -> Any:
    """The generated enum of an inspection item's severity (by prefix: its name is the
    generator's choice; test_an_items_severity_is_one_generated_enum wants one)."""
    return getattr(frota.models, severity_enums(frota)[0])


def severity_enums(frota: GeneratedClient) -> list[str]:
    return sorted(name for name in dir(frota.models) if name.startswith("InspectionItemInSeverity"))


def inspection_alerts(frota: GeneratedClient, manager: Any) -> dict[UUID, Any]:
    m = frota.models
    alerts = answered(
        frota.operation("alerts_list").sync_detailed(client=manager), OK, m.AlertsOut
    ).items
    return {
        alert.subject_id: alert
        for alert in alerts
        if alert.kind == m.AlertOutKind.INSPECTION and alert.status == m.AlertOutStatus.FAILED
    }


def read_the_reports(frota: GeneratedClient, manager: Any, vehicle: Any, started: datetime) -> None:
    m = frota.models
    read = frota.operation("reports_vehicle").sync_detailed(
        vehicle.id, client=manager, **period(started)
    )
    figures = answered(read, OK, m.VehicleReportOut).vehicle
    assert (figures.vehicle_id, figures.plate, figures.km_driven) == (
        vehicle.id,
        vehicle.plate,
        600,
    )
    assert figures.liters == Decimal("78.750")
    assert figures.fuel_cost == Decimal("330.75")
    assert figures.maintenance_cost == Decimal("350.00")
    assert figures.total_cost == Decimal("680.75")
    # 680.75 / 600 km, three places.
    assert figures.cost_per_km == Decimal("1.135")
    (ethanol,) = figures.fuel_types
    # 420 km between the two full tanks on the second fill's 38.250 L.
    assert ethanol.km_per_liter == Decimal("10.98")
    for value in (figures.liters, figures.total_cost, figures.cost_per_km, ethanol.km_per_liter):
        assert isinstance(value, Decimal)

    fleet = answered(
        frota.operation("reports_fleet").sync_detailed(client=manager, **period(started)),
        OK,
        m.FleetReportOut,
    )
    assert figures in fleet.vehicles
    assert isinstance(fleet.totals.total_cost, Decimal)
    assert fleet.totals.total_cost >= figures.total_cost
    assert isinstance(fleet.from_, datetime)


def test_the_drivers_day_through_the_generated_client(
    frota: GeneratedClient, admin: Any, manager: Any
) -> None:
    m = frota.models
    vehicle = register_vehicle(frota, manager, f"Saveiro {uuid.uuid4().hex[:8]}")
    user, one_time_password = new_user(frota, admin, "driver")
    driver = register_driver(frota, manager, user)
    assignment = answered(assign(frota, manager, vehicle, driver), CREATED, m.AssignmentOut)
    me = past_the_password_gate(
        frota, log_in(frota, user.username, one_time_password), one_time_password
    )

    # The driver sees their own vehicle and assignment, nothing else.
    mine = answered(frota.operation("vehicles_list").sync_detailed(client=me), OK, m.VehiclePage)
    assert [v.id for v in mine.items] == [vehicle.id]
    assigned = frota.operation("assignments_list").sync_detailed(client=me, active=True)
    assert [a.id for a in answered(assigned, OK, m.AssignmentPage).items] == [assignment.id]

    trip = check_out(frota, me, vehicle, 5000)
    assert trip.driver_id == driver.id
    fill = log_fuel(frota, me, vehicle, 5120, "35.000", "182.00")
    assert fill.author_user_id == user.id
    body = m.InspectionCreateIn(
        vehicle_id=vehicle.id,
        trip_id=trip.id,
        items=[
            m.InspectionItemIn(item="tyres", ok=True),
            m.InspectionItemIn(item="lights", ok=True),
        ],
    )
    recorded = frota.operation("inspections_record").sync_detailed(client=me, body=body)
    inspection = answered(recorded, CREATED, m.InspectionOut)
    assert (inspection.failed, inspection.trip_id, inspection.author_user_id) == (
        False,
        trip.id,
        user.id,
    )
    check_in(frota, me, trip, 5120)

    trips = answered(frota.operation("trips_list").sync_detailed(client=me), OK, m.TripPage)
    assert [t.id for t in trips.items] == [trip.id]
    # The user list is the admin's alone.
    users = frota.operation("auth_list_users").sync_detailed(client=me)
    refused(frota, users, HTTPStatus.FORBIDDEN, "forbidden")


# --- what the generated code must offer for the days above --------------------------------


def test_a_list_and_a_report_answer_csv_through_the_generated_client(
    frota: GeneratedClient, manager: Any
) -> None:
    m = frota.models
    model = f"Kangoo {uuid.uuid4().hex[:8]}"
    vehicles = [register_vehicle(frota, manager, model) for _ in range(3)]
    pages, cursor = [], None
    while True:
        text, headers = csv_answer(
            frota.operation("vehicles_list"),
            client=manager,
            q=model,
            limit=2,
            format_=m.VehiclesListFormat.CSV,
            **({"cursor": cursor} if cursor else {}),
        )
        header, *rows = text.splitlines()
        assert header.split(",")[:2] == ["id", "plate"]
        pages.append([row.split(",")[0] for row in rows])
        # A CSV page's next cursor travels in a header (docs/api-reference.md, "CSV").
        cursor = headers.get("X-Next-Cursor")
        if cursor is None:
            break
    assert pages == [[str(v.id) for v in vehicles[:2]], [str(vehicles[2].id)]]

    report, _ = csv_answer(
        frota.operation("reports_fleet"),
        client=manager,
        format_=m.ReportsFleetFormat.CSV,
        **period(datetime.now(UTC)),
    )
    assert report.splitlines()[0].split(",")[:2] == ["vehicle_id", "plate"]


def csv_answer(operation: Any, *, client: Any, **arguments: Any) -> tuple[str, Any]:
    """The text and the headers of a ``format=csv`` answer of ``operation``.

    A generated operation parses its 200 as the JSON model (openapi-python-client reads
    one media type per status), so the CSV variant is sent as the operation builds the
    request (its typed parameters, the format enum included) through the generated
    client's own HTTP client, which carries the token; docs/api-reference.md says so.
    """
    request = operation._get_kwargs(**arguments)
    response = client.get_httpx_client().request(**request)
    assert response.status_code == OK, response.content
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    return response.text, response.headers


def test_a_maintenance_schedule_is_planned_with_its_generated_model(
    frota: GeneratedClient, manager: Any
) -> None:
    m = frota.models
    vehicle = register_vehicle(frota, manager, f"Fiorino {uuid.uuid4().hex[:8]}")
    schedule_models = sorted(name for name in dir(m) if name.startswith("ScheduleCreateIn"))
    assert hasattr(m, "ScheduleCreateIn"), (
        f"no model with the schedule's own fields (vehicle_id, name, every_km, every_days), "
        f"only {schedule_models}"
    )
    body = m.ScheduleCreateIn(vehicle_id=vehicle.id, name="oil change", every_km=10000)
    planned = frota.operation("maintenance_create_schedule").sync_detailed(
        client=manager, body=body
    )
    schedule = answered(planned, CREATED, m.ScheduleOut)
    assert (schedule.vehicle_id, schedule.every_km) == (vehicle.id, 10000)
    assert schedule.status == m.ScheduleOutStatus.OK


def test_ids_in_paths_are_typed_as_uuids(frota: GeneratedClient) -> None:
    """Ids are UUIDs (docs/api.md), in a path as in a body or a query: the days above pass
    the UUIDs the answers carry."""
    untyped = []
    for operation_id in frota.operation_ids():
        parameters = inspect.signature(frota.operation(operation_id).sync_detailed).parameters
        untyped += [
            f"{operation_id}({name}: {parameter.annotation.__name__})"
            for name, parameter in parameters.items()
            # Path parameters come first, before the keyword-only client.
            if parameter.kind is parameter.POSITIONAL_OR_KEYWORD
            and parameter.annotation not in (UUID, "UUID")
        ]
    assert untyped == []


def test_an_items_severity_is_one_generated_enum(frota: GeneratedClient) -> None:
    """One field, one set of values: a client developer should not have to choose between
    identical classes."""
    assert len(severity_enums(frota)) == 1, severity_enums(frota)
