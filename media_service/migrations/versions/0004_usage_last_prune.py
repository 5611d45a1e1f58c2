"""the usage row records the last prune (when, and what it deleted)

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("usage", sa.Column("last_pruned_at", sa.DateTime(timezone=True)), schema="media")
    op.add_column("usage", sa.Column("last_prune_files", sa.Integer()), schema="media")
    op.add_column("usage", sa.Column("last_prune_bytes", sa.BigInteger()), schema="media")


def downgrade() -> None:
    for column in ("last_prune_bytes", "last_prune_files", "last_pruned_at"):
        op.drop_column("usage", column, schema="media")
