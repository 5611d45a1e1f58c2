"""The per-request session against a database that goes away under it (real PostgreSQL)."""

from __future__ import annotations

import time

import psycopg2
import sqlalchemy as sa
from flask import Flask

from shared.config import Settings
from shared.db import Database, current_session, make_engine


def test_an_answer_stands_when_the_database_drops_the_connection_before_teardown(database_url):
    # What a PostgreSQL shutting down does to a connection mid-request: the view
    # has its answer, and closing the session then rolls back on a dead socket.
    # Raised from teardown, that turned the answer into a 500 (seen in the
    # database-outage drill).
    engine = make_engine(database_url, Settings())
    app = Flask(__name__)
    Database(engine).init_app(app)
    admin = psycopg2.connect(database_url)
    admin.autocommit = True

    @app.get("/answer")
    def answer() -> str:
        session = current_session()
        backend = session.scalar(sa.text("SELECT pg_backend_pid()"))
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", (backend,))
        deadline = time.monotonic() + 5
        with admin.cursor() as cur:
            while time.monotonic() < deadline:
                cur.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (backend,))
                if cur.fetchone() is None:
                    break
                time.sleep(0.02)
        return "answered"

    try:
        response = app.test_client().get("/answer")
        assert (response.status_code, response.text) == (200, "answered")
        # The dead connection was dropped, not pooled: the next request works.
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT 1")) == 1
    finally:
        admin.close()
        engine.dispose()


def test_connections_run_without_jit(database_url):
    # Compiling plans cost the alerts and reports more than running them (shared/db.py).
    engine = make_engine(database_url, Settings())
    try:
        with engine.connect() as connection:
            assert connection.execute(sa.text("SHOW jit")).scalar() == "off"
    finally:
        engine.dispose()
