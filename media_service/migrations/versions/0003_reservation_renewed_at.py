"""reservations grow as bytes arrive and say when they last did

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "reservations",
        sa.Column(
            "renewed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        schema="media",
    )
    # Reservations open at the upgrade were last heard of when they were made.
    op.execute("UPDATE media.reservations SET renewed_at = created_at")


def downgrade() -> None:
    op.drop_column("reservations", "renewed_at", schema="media")
