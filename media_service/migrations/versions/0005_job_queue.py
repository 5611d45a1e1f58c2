"""the job queue: procrastinate's schema (3.10) in the media schema

Revision ID: 0005
Revises: 0004

Media pruning runs as a periodic job of the media worker (`frota worker media`).
"""

from collections.abc import Sequence

from alembic import op

from shared.jobs import apply_queue_schema

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    apply_queue_schema(op.get_bind(), "media")


def downgrade() -> None:
    # procrastinate's objects stay: dropping them would drop the queued jobs too.
    pass
