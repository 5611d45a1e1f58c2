"""odometer readings by time, for the fleet's monthly report

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The monthly report reads every vehicle's readings of a few months: a range of
    # read_at, whatever the vehicle (the other index leads with the vehicle).
    op.create_index(
        "ix_odometer_readings_read_at_id",
        "odometer_readings",
        ["read_at", "id"],
        unique=False,
        schema="fleet",
    )


def downgrade() -> None:
    op.drop_index("ix_odometer_readings_read_at_id", table_name="odometer_readings", schema="fleet")
