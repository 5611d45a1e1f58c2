"""canonical usernames, login throttles

Usernames become unique as a person reads them (NFKC + case folding), and the
login counters move from the users row (a lock of the whole account, known
users only) to their own table (keyed by canonical username and address,
known or not).

Two existing usernames that are the same once normalised (``Paul`` and
its full-width form, say) stop the migration with a message naming both; nothing is
changed. Which one keeps the name is an admin's decision (one of them may be
the look-alike of the other), so the migration does not pick a winner or
rename anyone behind their back.

Revision ID: 0004
Revises: 0003
"""

import unicodedata
from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


class UsernameCollision(RuntimeError):
    """Existing usernames that would become one: renamed by hand before migrating."""


def canonical_username(username: str) -> str:
    # A copy of auth_service.usernames.canonical_username as of this revision:
    # a migration must go on doing what it did when it was written.
    folded = unicodedata.normalize("NFKC", username.strip()).casefold()
    return unicodedata.normalize("NFKC", folded)


def upgrade() -> None:
    op.add_column("users", sa.Column("username_canonical", sa.Text(), nullable=True), schema="auth")
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, username FROM auth.users ORDER BY created_at"))
    by_canonical: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for user_id, username in rows:
        by_canonical[canonical_username(username)].append((str(user_id), username))
    collisions = [users for users in by_canonical.values() if len(users) > 1]
    if collisions:
        listed = "; ".join(
            " and ".join(f"{username!r} (id {user_id})" for user_id, username in users)
            for users in collisions
        )
        raise UsernameCollision(
            "auth migration 0004 stopped, nothing was changed: these usernames are the same "
            f"once normalised (NFKC, case-folded): {listed}. Give all but one of each group "
            "another username (column auth.users.username, by id), then migrate again."
        )
    for canonical, [(user_id, _username)] in by_canonical.items():
        connection.execute(
            sa.text("UPDATE auth.users SET username_canonical = :canonical WHERE id = :id"),
            {"canonical": canonical, "id": user_id},
        )
    op.alter_column("users", "username_canonical", nullable=False, schema="auth")
    op.create_index(
        "uq_users_username_canonical",
        "users",
        ["username_canonical"],
        unique=True,
        schema="auth",
    )
    op.drop_index("uq_users_username_lower", table_name="users", schema="auth")
    op.drop_column("users", "locked_until", schema="auth")
    op.drop_column("users", "first_failed_login_at", schema="auth")
    op.drop_column("users", "failed_login_count", schema="auth")
    op.create_table(
        "login_throttles",
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("address", sa.String(length=45), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "username", "address", name=op.f("pk_login_throttles")),
        schema="auth",
    )
    op.create_index(
        "ix_login_throttles_expires_at",
        "login_throttles",
        ["expires_at"],
        unique=False,
        schema="auth",
    )


def downgrade() -> None:
    op.drop_index("ix_login_throttles_expires_at", table_name="login_throttles", schema="auth")
    op.drop_table("login_throttles", schema="auth")
    op.add_column(
        "users",
        sa.Column("failed_login_count", sa.Integer(), server_default="0", nullable=False),
        schema="auth",
    )
    op.add_column(
        "users",
        sa.Column("first_failed_login_at", sa.DateTime(timezone=True), nullable=True),
        schema="auth",
    )
    op.add_column(
        "users", sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True), schema="auth"
    )
    op.create_index(
        "uq_users_username_lower",
        "users",
        [sa.text("lower(username)")],
        unique=True,
        schema="auth",
    )
    op.drop_index("uq_users_username_canonical", table_name="users", schema="auth")
    op.drop_column("users", "username_canonical", schema="auth")
