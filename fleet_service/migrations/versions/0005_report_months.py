"""the fleet's monthly figures of closed months, cached, and the triggers keeping them true

Revision ID: 0005
Revises: 0004

The monthly report (reports/service.py) reads months of fills and readings each
time; a closed month's figures only change when its history does, so they are kept
in report_months, filled by the report on first use. Every write that could change
a cached month removes it here, in the database, so no write path can forget to:
a fill, reading (a void too), maintenance record or retirement at time t changes
the month of t and every later one (km and km/L carry over from earlier rows).

A report computing a month reads it in one snapshot and stores it later; a write
committed in between would find nothing to remove yet and leave a stale month
behind. So writers and the report's filling meet on one advisory lock: each writer
takes it shared (writers never wait for one another) until it commits, and the
report fills the cache only if it gets the lock exclusively at once — then no
writer is in flight, and any new one waits for the report's commit, then removes
what it changes. A report that does not get it answers from live figures and
stores nothing. This relies on READ COMMITTED (Frota's sessions): each statement
sees what was committed before it began, so the report's sections see every writer
that ended before its lock, and a writer's delete sees what the report stored.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables whose rows make up the figures, by the time column that puts a row in a month.
HISTORY = {
    "fuel_logs": "filled_at",
    "odometer_readings": "read_at",
    "maintenance_records": "performed_at",
}

# The advisory lock's key, 32199680925529203: "reports" in ASCII, as a bigint (as the
# media prune job's is "media").
STALE_FROM = """
CREATE FUNCTION fleet.report_months_stale_from(since timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF since IS NULL THEN
        RETURN;  -- nothing that puts a row in a month changed
    END IF;
    -- Held until this transaction ends: a report cannot start filling meanwhile.
    PERFORM pg_advisory_xact_lock_shared(32199680925529203);
    DELETE FROM fleet.report_months WHERE month_end > since;
END
$$
"""

MAY_FILL = """
CREATE FUNCTION fleet.report_months_may_fill() RETURNS boolean
LANGUAGE sql VOLATILE AS $$
    -- Never waits: with a writer in flight, the report just does not store its months.
    SELECT pg_try_advisory_xact_lock(32199680925529203)
$$
"""

# One statement-level trigger per event (PostgreSQL allows transition tables on
# single-event triggers only): a bulk insert removes cached months once, not per row.
HISTORY_CHANGED = """
CREATE FUNCTION fleet.report_months_history_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    since timestamptz;
BEGIN
    -- TG_ARGV[0]: the table's time column. An update may move a row either way in
    -- time: the earlier of its two times counts.
    IF TG_OP = 'TRUNCATE' THEN
        since := '-infinity';
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        EXECUTE format('SELECT min(%I) FROM new_rows', TG_ARGV[0]) INTO since;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        EXECUTE format('SELECT least($1, min(%I)) FROM old_rows', TG_ARGV[0])
            INTO since USING since;
    END IF;
    PERFORM fleet.report_months_stale_from(since);
    RETURN NULL;
END
$$
"""

# A vehicle is in a month's figures unless retired before it: only a change of
# retired_at (a retirement) matters, from the earlier of the two times.
VEHICLE_RETIRED = """
CREATE FUNCTION fleet.report_months_vehicle_retired() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM fleet.report_months_stale_from(
        (SELECT least(min(o.retired_at), min(n.retired_at))
         FROM old_rows o JOIN new_rows n ON n.id = o.id
         WHERE o.retired_at IS DISTINCT FROM n.retired_at)
    );
    RETURN NULL;
END
$$
"""


def _trigger(table: str, event: str, referencing: str, function: str) -> str:
    return (
        f"CREATE TRIGGER report_months_after_{event.lower()} AFTER {event} ON fleet.{table} "
        f"{referencing} FOR EACH STATEMENT EXECUTE FUNCTION fleet.{function}"
    )


def upgrade() -> None:
    op.create_table(
        "report_months",
        # The month's first instant (midnight in São Paulo) and the next month's.
        sa.Column("month_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("month_end", sa.DateTime(timezone=True), nullable=False),
        # Each section's rows for the month, by section name.
        sa.Column("figures", postgresql.JSONB(), nullable=False),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("month_start", name=op.f("pk_report_months")),
        schema="fleet",
    )
    for function in (STALE_FROM, MAY_FILL, HISTORY_CHANGED, VEHICLE_RETIRED):
        op.execute(function)
    for table, column in HISTORY.items():
        changed = f"report_months_history_changed('{column}')"
        op.execute(_trigger(table, "INSERT", "REFERENCING NEW TABLE AS new_rows", changed))
        op.execute(
            _trigger(
                table, "UPDATE", "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows", changed
            )
        )
        op.execute(_trigger(table, "DELETE", "REFERENCING OLD TABLE AS old_rows", changed))
        op.execute(_trigger(table, "TRUNCATE", "", changed))
    op.execute(
        _trigger(
            "vehicles",
            "UPDATE",
            "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
            "report_months_vehicle_retired()",
        )
    )


def downgrade() -> None:
    for table in HISTORY:
        for event in ("insert", "update", "delete", "truncate"):
            op.execute(f"DROP TRIGGER report_months_after_{event} ON fleet.{table}")
    op.execute("DROP TRIGGER report_months_after_update ON fleet.vehicles")
    for function in (
        "report_months_vehicle_retired()",
        "report_months_history_changed()",
        "report_months_may_fill()",
        "report_months_stale_from(timestamptz)",
    ):
        op.execute(f"DROP FUNCTION fleet.{function}")
    op.drop_table("report_months", schema="fleet")
