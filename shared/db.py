"""Database engine, per-request sessions and a declarative base bound to a schema."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, g
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.config import Settings
from shared.errors import describe_database_error

logger = logging.getLogger("frota.db")

# Constraint names are predictable, so migrations can name them and the
# IntegrityError handlers can map them to 409s with the right code.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def schema_metadata(schema: str) -> sa.MetaData:
    """The metadata of a service's declarative base: its tables all live in ``schema``.

    Each service writes ``class Base(DeclarativeBase)`` itself with this as its
    metadata, so that type checkers see a class (a base returned by a factory
    function is a variable to them, and its models lose their column types).
    """
    return sa.MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def sqlalchemy_url(url: str) -> str:
    """Pin the psycopg2 driver: SQLAlchemy 2.1 would pick psycopg 3 for ``postgresql://``."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


# Session settings of every connection. JIT off: PostgreSQL compiles a plan to machine
# code once its estimated cost passes a threshold, which our short queries over big
# tables (alerts, reports) pass and then spend 80-200 ms compiling for a query that
# runs in 35 ms (measured with bench/console.py: docs/performance.md).
CONNECTION_OPTIONS = "-c jit=off"


def make_engine(url: str, settings: Settings, **kwargs: Any) -> Engine:
    """An engine with the pool settings of the seed (20 + 30 overflow, 1 h recycle, pre-ping)."""
    return sa.create_engine(
        sqlalchemy_url(url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_recycle=settings.db_pool_recycle,
        pool_pre_ping=True,
        # Statement parameters hold personal data (names, plates, usernames):
        # never put them in exception messages, which end up in logs.
        hide_parameters=True,
        connect_args={"options": CONNECTION_OPTIONS},
        **kwargs,
    )


class Database:
    """The engine and session factory of one service, bound to a Flask app.

    Each request gets one session (``db.session``), closed at teardown; the
    code that changes data commits explicitly.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessionmaker = sessionmaker(bind=engine, expire_on_commit=False)

    def init_app(self, app: Flask) -> None:
        app.extensions["db"] = self
        app.teardown_appcontext(self._close_session)

    @property
    def session(self) -> Session:
        session = g.get("_db_session")
        if session is None:
            session = g._db_session = self.sessionmaker()
        return session

    def _close_session(self, _exc: BaseException | None) -> None:
        session = g.pop("_db_session", None)
        if session is None:
            return
        try:
            session.close()
        except sa.exc.DBAPIError as exc:
            # The database went away after the answer was made (a 503, or a 2xx
            # whose commit stands): closing rolls back on a dead connection. Raised
            # from teardown it would turn that answer into a 500; the connection
            # is dropped instead of going back to the pool.
            logger.warning(
                "database connection lost while closing the session: %s",
                describe_database_error(exc),
            )
            session.invalidate()

    def is_ready(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return False
        return True


def current_session() -> Session:
    """The session of the request being served, in the current app's database."""
    database: Database = current_app.extensions["db"]
    return database.session
