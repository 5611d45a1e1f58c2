"""Log lines (JSON and console) and request ids."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import uuid
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from flask import Flask, g

import shared.logs
from shared.config import Settings
from shared.db import make_engine
from shared.logs import (
    REQUEST_ID_HEADER,
    ConsoleFormatter,
    JSONFormatter,
    RequestIdFilter,
    configure_logging,
    init_request_logging,
    is_valid_request_id,
    new_request_id,
)


@contextlib.contextmanager
def private_logger(formatter: logging.Formatter):
    """A logger of its own writing through ``formatter`` into a buffer; yields (logger, buffer)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger(f"frota.test.{uuid.uuid4().hex}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def log():
    """A private logger writing through JSONFormatter; yields (logger, lines)."""
    with private_logger(JSONFormatter("fleet")) as (logger, stream):

        def lines() -> list[dict]:
            text = stream.getvalue()
            assert text.endswith("\n")
            return [json.loads(line) for line in text.splitlines()]

        yield logger, lines


def test_each_record_is_one_json_object_on_one_line(log):
    logger, lines = log

    logger.info("first")
    logger.warning('second\nwith a newline and "quotes"')
    logger.error("third %s", "formatted")

    records = lines()
    assert [r["message"] for r in records] == [
        "first",
        'second\nwith a newline and "quotes"',
        "third formatted",
    ]
    assert [r["level"] for r in records] == ["INFO", "WARNING", "ERROR"]


def test_a_line_names_the_service_logger_level_time_and_request_id(log):
    logger, lines = log

    logger.info("hello", extra={"request_id": "req-0123456789"})

    [record] = lines()
    assert record["service"] == "fleet"
    assert record["logger"] == logger.name
    assert record["level"] == "INFO"
    assert record["message"] == "hello"
    assert record["request_id"] == "req-0123456789"
    stamp = datetime.fromisoformat(record["time"])
    assert stamp.utcoffset() == timedelta(0)


def test_outside_a_request_the_request_id_is_null(log):
    logger, lines = log

    logger.info("background work")

    assert lines()[0]["request_id"] is None


def test_inside_a_request_the_request_id_is_stamped_on_every_record(log):
    logger, lines = log
    app = Flask(__name__)

    with app.test_request_context("/"):
        g.request_id = "req-inside-0001"
        logger.info("during the request")

    assert lines()[0]["request_id"] == "req-inside-0001"


def test_request_fields_appear_only_when_given(log):
    logger, lines = log

    logger.info("plain")
    logger.info(
        "GET /x 200",
        extra={"method": "GET", "path": "/x", "status": 200, "duration_ms": 1.5, "user_id": "u1"},
    )

    plain, access = lines()
    assert not {"method", "path", "status", "duration_ms", "user_id"} & set(plain)
    assert (access["method"], access["path"], access["status"]) == ("GET", "/x", 200)
    assert (access["duration_ms"], access["user_id"]) == (1.5, "u1")


def test_an_exception_stays_on_the_same_line(log):
    logger, lines = log

    try:
        raise ValueError("broken")
    except ValueError:
        logger.exception("it failed")

    [record] = lines()
    assert record["message"] == "it failed"
    assert "Traceback" in record["exception"]
    assert "ValueError: broken" in record["exception"]


def test_values_json_cannot_encode_are_written_as_text(log):
    logger, lines = log
    user_id = uuid.uuid4()

    logger.info("who", extra={"user_id": user_id})

    assert lines()[0]["user_id"] == str(user_id)


# --- request ids ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "abcdefgh",
        "req-0123456789",
        "a1b2.c3d4:e5_f6-g7",
        uuid.uuid4().hex,
        str(uuid.uuid4()),
        "x" * 128,
    ],
)
def test_plain_request_ids_are_accepted(value):
    assert is_valid_request_id(value)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "short",
        "abcdefg",
        "has a space",
        "tab\tseparated",
        "line\nbreak-123",
        "abcdefgh\n",
        "abcdefgh\r\nSet-Cookie: a=b",
        "x" * 129,
        "ação-12345",
        'quote"d-123',
        "slash/path/123",
        12345678,
        b"abcdefgh",
    ],
    ids=repr,
)
def test_request_ids_with_spaces_newlines_odd_characters_or_bad_lengths_are_refused(value):
    assert not is_valid_request_id(value)


def test_fresh_request_ids_are_valid_and_unique():
    fresh = {new_request_id() for _ in range(100)}

    assert len(fresh) == 100
    assert all(is_valid_request_id(value) for value in fresh)


# --- request logging ------------------------------------------------------------------


def test_each_request_is_logged_once_with_its_status_id_and_duration_in_ms(caplog, monkeypatch):
    # The clock reads 100 s as the request starts and 12.3456 ms later as it ends.
    readings = iter([100.0, 100.0123456])
    monkeypatch.setattr(shared.logs, "time", SimpleNamespace(perf_counter=lambda: next(readings)))
    app = Flask(__name__)
    init_request_logging(app)

    @app.before_request
    def set_request_id() -> None:
        g.request_id = "req-logged-0001"

    @app.get("/ping")
    def ping():
        return "pong"

    with caplog.at_level(logging.INFO, logger="frota.access"):
        response = app.test_client().get("/ping")

    assert response.headers[REQUEST_ID_HEADER] == "req-logged-0001"
    [record] = [r for r in caplog.records if r.name == "frota.access"]
    assert record.getMessage() == "GET /ping 200"
    assert (record.method, record.path, record.status) == ("GET", "/ping", 200)
    # Milliseconds, to two decimals: not seconds, not a clock read twice at the same point.
    assert record.duration_ms == 12.35


def log_a_duplicate_email(logger, connection, email: str) -> None:
    """Log the IntegrityError of inserting ``email`` twice, PostgreSQL quoting it in its detail.

    ``email`` comes in as an argument, not written out where it is used: the
    traceback quotes those source lines.
    """
    connection.execute(sa.text("CREATE TEMP TABLE people (email text UNIQUE)"))
    insert = sa.text("INSERT INTO people (email) VALUES (:email)")
    connection.execute(insert, {"email": email})
    try:
        with connection.begin_nested():
            connection.execute(insert, {"email": email})
    except sa.exc.IntegrityError:
        logger.exception("unhandled exception")


def test_a_database_error_is_logged_without_the_values_postgresql_quotes(log, connection):
    logger, lines = log
    log_a_duplicate_email(logger, connection, "maria.souza@example.com")

    (line,) = lines()
    assert "maria.souza" not in json.dumps(line)
    # What it was, and where, is still there.
    assert "IntegrityError" in line["exception"]
    assert "sqlstate=23505" in line["exception"]
    assert "constraint=people_email_key" in line["exception"]
    assert "Traceback (most recent call last)" in line["exception"]


def test_engines_never_put_statement_parameters_in_their_errors(database_url):
    engine = make_engine(database_url, Settings())
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT CAST(:v AS integer)"), {"v": "cpf-123.456.789-00"})
    except sa.exc.DataError as exc:
        message = str(exc)
    finally:
        engine.dispose()

    assert "hide_parameters" in message
    # PostgreSQL's own message quotes it; what SQLAlchemy adds does not.
    assert "cpf-123.456.789-00" not in message.split("[SQL:")[1]


# --- LOG_FORMAT=console ---------------------------------------------------------------


@pytest.fixture
def console():
    """A private logger writing through ConsoleFormatter; yields (logger, text so far)."""
    with private_logger(ConsoleFormatter("gateway")) as (logger, stream):
        yield logger, stream.getvalue


def test_a_request_reads_as_one_line_time_service_method_path_status_duration_and_id(console):
    logger, text = console

    logger.info(
        "GET /api/v1/vehicles 200",
        extra={
            "method": "GET",
            "path": "/api/v1/vehicles",
            "status": 200,
            "duration_ms": 12.345,
            "request_id": "req-0123456789",
        },
    )

    [line] = text().splitlines()
    stamp, rest = line.split(" ", 1)
    datetime.strptime(stamp, "%H:%M:%S.%f")
    assert rest == "gateway GET /api/v1/vehicles 200 12.3 ms id=req-0123456789"


def test_other_records_read_as_level_logger_and_message(console):
    logger, text = console

    logger.warning("Redis is unreachable: %s", "connection refused")

    [line] = text().splitlines()
    assert line.split(" ", 1)[1] == (
        f"gateway WARNING {logger.name}: Redis is unreachable: connection refused"
    )


def test_a_client_cannot_forge_a_console_line_or_send_terminal_escapes(console):
    logger, text = console

    logger.info(
        "GET",
        extra={
            "method": "GET",
            "path": "/x\n12:00:00.000 gateway GET /admin 200\x1b[2J",
            "status": 404,
        },
    )

    [line] = text().splitlines()
    assert "\\x0a12:00:00.000 gateway GET /admin 200\\x1b[2J 404" in line
    assert "\x1b" not in line


def test_a_console_traceback_follows_its_line_and_hides_database_values(console, connection):
    logger, text = console
    log_a_duplicate_email(logger, connection, "joana.lima@example.com")

    first, *traceback_lines = text().splitlines()
    assert first.endswith(f"gateway ERROR {logger.name}: unhandled exception")
    assert traceback_lines[0] == "Traceback (most recent call last):"
    assert "joana.lima" not in text()
    assert "sqlstate=23505" in text()


@pytest.mark.parametrize(
    ("log_format", "formatter"), [("json", JSONFormatter), ("console", ConsoleFormatter)]
)
def test_configure_logging_installs_the_format_asked_for_and_replaces_its_own(
    log_format, formatter
):
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        configure_logging("auth", "INFO", "json")
        configure_logging("auth", "INFO", log_format)
        ours = [h for h in root.handlers if h not in before]
        assert [type(h.formatter) for h in ours] == [formatter]
    finally:
        root.handlers[:] = before
        root.setLevel(level)
