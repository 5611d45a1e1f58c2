"""revocation version

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
    op.create_table(
        "revocation_version",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_revocation_version_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revocation_version")),
        schema="auth",
    )
    # The one row exists from the start: revocations only ever UPDATE it.
    op.execute("INSERT INTO auth.revocation_version (id, version) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("revocation_version", schema="auth")
