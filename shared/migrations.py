"""Alembic plumbing shared by every service's migration tree.

Each service keeps its own tree (``<service>/migrations``) whose ``env.py``
calls :func:`run_migrations`; the version table lives in the service's schema
and autogenerate only looks at that schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config

from shared.db import sqlalchemy_url


def alembic_config(migrations_dir: Path, database_url: str) -> Config:
    """An Alembic config for one service's tree, built in code (no alembic.ini)."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    # ConfigParser interpolation would choke on a '%' in a password.
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    return config


def upgrade(migrations_dir: Path, database_url: str, revision: str = "head") -> None:
    """Bring one service's schema up to ``revision``."""
    command.upgrade(alembic_config(migrations_dir, database_url), revision)


def run_migrations(target_metadata: sa.MetaData) -> None:
    """Body of a service's ``env.py``: run online migrations in its own schema."""
    schema = target_metadata.schema
    assert schema, "a service's metadata must be bound to its schema"

    def include_object(
        obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if type_ == "table":
            return obj.schema == schema
        return True

    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "alembic_config() sets sqlalchemy.url"
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        connection.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
        connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
