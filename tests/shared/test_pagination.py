"""Keyset pagination: every row exactly once, in order; a cursor we did not issue is a 400."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from fleet_service.vehicles.models import Vehicle
from shared.errors import APIError
from shared.pagination import (
    MAX_CURSOR_LENGTH,
    decode_cursor,
    encode_cursor,
    keyset_batches,
    order_tag,
    paginate,
)
from tests.support.factories import make_vehicle

T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


class _ScratchBase(DeclarativeBase):
    pass


class Item(_ScratchBase):
    """A throw-away table (a TEMP table created inside the test's transaction)."""

    __tablename__ = "pagination_items"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    rank: Mapped[int] = mapped_column(sa.Integer)
    label: Mapped[str] = mapped_column(sa.Text)


BY_TIME = [Item.created_at, Item.id]
BY_RANK = [Item.rank, Item.id]
BY_LABEL = [Item.label, Item.id]


@pytest.fixture
def scratch(connection: sa.Connection, db_session: Session) -> Session:
    connection.execute(
        sa.text(
            "CREATE TEMP TABLE pagination_items ("
            " id uuid PRIMARY KEY, created_at timestamptz NOT NULL,"
            " rank integer NOT NULL, label text NOT NULL)"
        )
    )
    return db_session


def add_items(session: Session, count: int) -> list[Item]:
    """``count`` rows whose sort keys tie in threes, so the id must break ties.

    The timestamps differ by microseconds: a cursor that lost precision would
    skip or repeat rows.
    """
    items = [
        Item(
            id=uuid.uuid4(),
            created_at=T0 + timedelta(microseconds=7 * (n // 3)),
            rank=n // 3,
            label=f"label-{n // 3:03d}",
        )
        for n in range(count)
    ]
    session.add_all(items)
    session.flush()
    return items


def walk(session: Session, order_by, *, limit: int, descending: bool = False):
    """Follow next_cursor from the first page to the last; return the pages."""
    pages = []
    cursor = None
    while True:
        page = paginate(
            session,
            sa.select(Item),
            order_by=order_by,
            limit=limit,
            cursor=cursor,
            descending=descending,
        )
        pages.append(page)
        assert len(pages) < 100, "pagination does not terminate"
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def ids(items) -> list[uuid.UUID]:
    return [item.id for item in items]


# --- paging ---------------------------------------------------------------------------


@pytest.mark.parametrize("order_by", [BY_TIME, BY_RANK, BY_LABEL], ids=["time", "rank", "label"])
@pytest.mark.parametrize("limit", [1, 4, 5, 23, 24, 200])
def test_paging_returns_every_row_exactly_once_in_order(scratch, order_by, limit):
    items = add_items(scratch, 23)
    expected = sorted(items, key=lambda i: tuple(getattr(i, c.key) for c in order_by))

    pages = walk(scratch, order_by, limit=limit)

    seen = [item for page in pages for item in page.items]
    assert ids(seen) == ids(expected)
    assert all(len(page.items) == limit for page in pages[:-1])
    assert 1 <= len(pages[-1].items) <= limit


def test_paging_in_descending_order(scratch):
    items = add_items(scratch, 17)
    expected = sorted(items, key=lambda i: (i.created_at, i.id), reverse=True)

    pages = walk(scratch, BY_TIME, limit=5, descending=True)

    assert ids(item for page in pages for item in page.items) == ids(expected)


def test_the_last_page_has_no_next_cursor(scratch):
    add_items(scratch, 7)

    pages = walk(scratch, BY_TIME, limit=3)

    assert [len(page.items) for page in pages] == [3, 3, 1]
    assert [page.next_cursor is None for page in pages] == [False, False, True]


def test_an_exactly_full_last_page_is_not_followed_by_an_empty_one(scratch):
    add_items(scratch, 6)

    pages = walk(scratch, BY_TIME, limit=3)

    assert [len(page.items) for page in pages] == [3, 3]
    assert pages[-1].next_cursor is None


def test_an_empty_table_is_one_empty_page(scratch):
    page = paginate(scratch, sa.select(Item), order_by=BY_TIME, limit=10, cursor=None)

    assert (page.items, page.next_cursor) == ([], None)


def test_an_empty_cursor_means_the_first_page(scratch):
    add_items(scratch, 4)

    first = paginate(scratch, sa.select(Item), order_by=BY_TIME, limit=2, cursor=None)
    empty = paginate(scratch, sa.select(Item), order_by=BY_TIME, limit=2, cursor="")

    assert ids(empty.items) == ids(first.items)


def test_the_filter_of_the_statement_is_kept_across_pages(scratch):
    items = add_items(scratch, 12)
    stmt = sa.select(Item).where(Item.rank % 2 == 0)

    seen, cursor = [], None
    while True:
        page = paginate(scratch, stmt, order_by=BY_TIME, limit=2, cursor=cursor)
        seen.extend(page.items)
        if not (cursor := page.next_cursor):
            break

    expected = sorted((i for i in items if i.rank % 2 == 0), key=lambda i: (i.created_at, i.id))
    assert ids(seen) == ids(expected)


def test_rows_inserted_before_the_cursor_do_not_shift_later_pages(scratch):
    add_items(scratch, 9)
    first = paginate(scratch, sa.select(Item), order_by=BY_TIME, limit=3, cursor=None)
    scratch.add(Item(id=uuid.uuid4(), created_at=T0 - timedelta(days=1), rank=-1, label="early"))
    scratch.flush()

    second = paginate(scratch, sa.select(Item), order_by=BY_TIME, limit=3, cursor=first.next_cursor)

    assert set(ids(first.items)).isdisjoint(ids(second.items))
    assert min(i.created_at for i in second.items) >= max(i.created_at for i in first.items)


def test_a_cursor_is_opaque_url_safe_text(scratch):
    add_items(scratch, 3)

    cursor = paginate(scratch, sa.select(Item), order_by=BY_TIME, limit=1, cursor=None).next_cursor

    assert cursor
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_a_cursor_round_trips_to_typed_values():
    key = (T0 + timedelta(microseconds=123456), uuid.uuid4())

    assert decode_cursor(encode_cursor(key, BY_TIME), BY_TIME) == list(key)
    assert decode_cursor(encode_cursor((42, key[1]), BY_RANK), BY_RANK) == [42, key[1]]
    descending = encode_cursor(key, BY_TIME, descending=True)
    assert decode_cursor(descending, BY_TIME, descending=True) == list(key)


def test_paging_through_real_vehicles(db_session):
    vehicles = [make_vehicle(db_session) for _ in range(7)]
    order_by = [Vehicle.created_at, Vehicle.id]

    seen, cursor, pages = [], None, 0
    while True:
        page = paginate(db_session, sa.select(Vehicle), order_by=order_by, limit=3, cursor=cursor)
        seen.extend(page.items)
        pages += 1
        if not (cursor := page.next_cursor):
            break

    assert pages == 3
    assert ids(seen) == ids(sorted(vehicles, key=lambda v: (v.created_at, v.id)))


# --- cursors we did not issue ---------------------------------------------------------


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def keyed(values: list, order_by=BY_TIME, *, descending: bool = False) -> str:
    """A cursor with the tag of ``order_by`` (as we issue them) around ``values``."""
    return cursor_of([order_tag(order_by, descending), *values])


def cursor_of(value) -> str:
    return b64(json.dumps(value).encode())


SOME_ID = str(uuid.uuid4())
WHEN = T0.isoformat()

TAMPERED_TIME_CURSORS = {
    "not base64": "this is not base64 !!!",
    "bad padding": "abcde",
    "base64 of non-json": b64(b"hello, world"),
    "base64 of invalid utf-8": b64(b"\xff\xfe\xfd\x80"),
    "json object": cursor_of({"created_at": WHEN, "id": SOME_ID}),
    "json string": cursor_of(WHEN),
    "json number": cursor_of(5),
    "json null": cursor_of(None),
    "empty list": cursor_of([]),
    "too short": keyed([WHEN]),
    "too long": keyed([WHEN, SOME_ID, "extra"]),
    "numbers": keyed([1, 2]),
    "null value": keyed([None, SOME_ID]),
    "nested list": keyed([[WHEN], SOME_ID]),
    "bool": keyed([True, SOME_ID]),
    "bad datetime": keyed(["yesterday", SOME_ID]),
    "impossible date": keyed(["2026-02-30T00:00:00+00:00", SOME_ID]),
    "bad uuid": keyed([WHEN, "not-a-uuid"]),
    "sql in uuid": keyed([WHEN, "'; DROP TABLE pagination_items; --"]),
    "deeply nested": b64(b"[" * 5000 + b"]" * 5000),
    "naive time": keyed(["2026-01-31T12:00:00", SOME_ID]),
    "lone surrogate": keyed(["\ud800", SOME_ID]),
    "untagged": cursor_of([WHEN, SOME_ID]),
    "tag of another order": keyed([WHEN, SOME_ID], BY_RANK),
    "tag of the other direction": keyed([WHEN, SOME_ID], descending=True),
    "huge": b64(json.dumps(["x" * 100_000, SOME_ID]).encode()),
}


def count_items(session: Session) -> int | None:
    return session.scalar(sa.select(sa.func.count()).select_from(Item))


@contextmanager
def statements_sent(session: Session) -> Iterator[list[str]]:
    """The SQL statements sent to the database inside the block, as they go."""
    sent: list[str] = []

    def record(conn, db_cursor, statement, parameters, context, executemany):
        sent.append(statement)

    engine = session.get_bind().engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def assert_invalid_cursor(session: Session, order_by, cursor: str) -> None:
    rows = count_items(session)
    with statements_sent(session) as sent, pytest.raises(APIError) as caught:
        paginate(session, sa.select(Item), order_by=order_by, limit=5, cursor=cursor)
    assert caught.value.status_code == 400
    assert caught.value.code == "invalid_cursor"
    # The refusal came before the database: nothing was sent, and the transaction
    # still answers (a statement that had failed in PostgreSQL would have aborted it).
    assert sent == []
    assert count_items(session) == rows


@pytest.mark.parametrize(
    "cursor", list(TAMPERED_TIME_CURSORS.values()), ids=list(TAMPERED_TIME_CURSORS)
)
def test_a_tampered_cursor_is_400_invalid_cursor(scratch, cursor):
    add_items(scratch, 3)

    assert_invalid_cursor(scratch, BY_TIME, cursor)


@pytest.mark.parametrize("rank", ["abc", "1.5", "", "0x10", "1e3"])
def test_a_non_integer_for_an_integer_key_is_400(scratch, rank):
    assert_invalid_cursor(scratch, BY_RANK, keyed([rank, SOME_ID], BY_RANK))


def test_a_nul_character_in_a_text_key_is_400_not_a_driver_error(scratch):
    assert_invalid_cursor(scratch, BY_LABEL, keyed(["label\x00", SOME_ID], BY_LABEL))


def test_a_valid_cursor_for_other_columns_is_refused(scratch):
    add_items(scratch, 3)
    cursor = paginate(scratch, sa.select(Item), order_by=BY_TIME, limit=1, cursor=None).next_cursor
    assert cursor is not None

    assert_invalid_cursor(scratch, BY_RANK, cursor)


def test_the_fleet_api_answers_a_garbage_cursor_with_400(fleet_api):
    response = fleet_api.get(
        "/api/v1/fleet/vehicles?cursor=garbage!!", user=str(uuid.uuid4()), role="admin"
    )

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    ("order_by", "value", "rows_after"),
    [
        (BY_RANK, "9" * 30, 0),
        (BY_RANK, "-" + "9" * 30, 3),
        (BY_TIME, "9999-12-31T23:59:59.999999-14:00", 0),
        (BY_TIME, "0001-01-01T00:00:00+14:00", 3),
    ],
    ids=["huge int", "huge negative int", "end of time", "start of time"],
)
def test_well_formed_keys_beyond_the_column_range_page_from_the_ends(
    scratch, order_by, value, rows_after
):
    add_items(scratch, 3)

    page = paginate(
        scratch,
        sa.select(Item),
        order_by=order_by,
        limit=5,
        cursor=keyed([value, SOME_ID], order_by),
    )

    assert (len(page.items), page.next_cursor) == (rows_after, None)


def test_a_lone_surrogate_in_a_text_key_is_400_not_a_driver_error(scratch):
    add_items(scratch, 3)

    assert_invalid_cursor(scratch, BY_LABEL, keyed(["label\ud800", SOME_ID], BY_LABEL))


def test_a_cursor_of_one_direction_is_refused_by_the_other(scratch):
    add_items(scratch, 3)
    cursor = paginate(
        scratch, sa.select(Item), order_by=BY_LABEL, limit=1, cursor=None, descending=True
    ).next_cursor
    assert cursor is not None

    assert_invalid_cursor(scratch, BY_LABEL, cursor)


def test_the_fleet_api_refuses_a_cursor_of_another_sort_order(fleet_api, db_session):
    for _ in range(3):
        make_vehicle(db_session)
    admin = str(uuid.uuid4())
    first = fleet_api.get("/api/v1/fleet/vehicles?sort=plate&limit=1", user=admin, role="admin")
    cursor = first.get_json()["next_cursor"]
    assert cursor

    same = fleet_api.get(
        f"/api/v1/fleet/vehicles?sort=plate&limit=1&cursor={cursor}", user=admin, role="admin"
    )
    other = fleet_api.get(
        f"/api/v1/fleet/vehicles?sort=-plate&limit=1&cursor={cursor}", user=admin, role="admin"
    )

    assert same.status_code == 200
    assert other.status_code == 400
    assert other.get_json()["error"]["code"] == "invalid_cursor"


def test_a_cursor_over_the_length_limit_is_refused_before_decoding(scratch):
    add_items(scratch, 3)
    label = "x" * MAX_CURSOR_LENGTH
    assert decode_cursor(keyed([label[:1000], SOME_ID], BY_LABEL), BY_LABEL)

    assert_invalid_cursor(scratch, BY_LABEL, keyed([label, SOME_ID], BY_LABEL))


# --- walking a whole table in batches -------------------------------------------------


def batches_of(session: Session, stmt, order_by, batch_size: int) -> list[list[uuid.UUID]]:
    return [
        [row.id for row in rows]
        for rows in keyset_batches(session, stmt, order_by=order_by, batch_size=batch_size)
    ]


@pytest.mark.parametrize("order_by", [BY_TIME, BY_RANK, BY_LABEL], ids=["time", "rank", "label"])
@pytest.mark.parametrize("batch_size", [1, 4, 23, 24, 200])
def test_batches_cover_every_row_exactly_once_in_order(scratch, order_by, batch_size):
    items = add_items(scratch, 23)
    expected = sorted(items, key=lambda i: tuple(getattr(i, c.key) for c in order_by))

    batches = batches_of(scratch, sa.select(Item.id), order_by, batch_size)

    assert [file_id for batch in batches for file_id in batch] == ids(expected)
    assert [len(batch) for batch in batches[:-1]] == [batch_size] * (len(batches) - 1)
    assert 1 <= len(batches[-1]) <= batch_size


def test_batches_keep_the_filter_of_the_statement(scratch):
    items = add_items(scratch, 12)

    batches = batches_of(scratch, sa.select(Item.id).where(Item.rank % 2 == 0), BY_TIME, 2)

    expected = sorted((i for i in items if i.rank % 2 == 0), key=lambda i: (i.created_at, i.id))
    assert [file_id for batch in batches for file_id in batch] == ids(expected)


def test_an_empty_table_is_no_batch_at_all(scratch):
    assert batches_of(scratch, sa.select(Item.id), BY_TIME, 10) == []


def test_each_batch_is_one_query_of_at_most_batch_size_rows_run_when_it_is_wanted(scratch):
    add_items(scratch, 10)

    with statements_sent(scratch) as sent:
        batches = keyset_batches(scratch, sa.select(Item.id), order_by=BY_RANK, batch_size=4)
        assert sent == []
        assert len(next(batches)) == 4
        assert len(sent) == 1
        assert [len(rows) for rows in batches] == [4, 2]
    # The two batches asked for, and the empty one that ends the walk.
    assert len(sent) == 4
    assert all("LIMIT" in statement for statement in sent)


def test_the_caller_may_delete_what_it_walks_and_rows_ahead_and_commit_between_batches(scratch):
    items = add_items(scratch, 30)
    in_order = ids(sorted(items, key=lambda i: (i.created_at, i.id)))
    # Rows further on that go while the walk is under way, as another process might.
    gone_ahead = set(in_order[10:13]) | {in_order[-1]}
    seen: list[uuid.UUID] = []

    for rows in keyset_batches(scratch, sa.select(Item.id), order_by=BY_TIME, batch_size=4):
        batch = [row.id for row in rows]
        seen.extend(batch)
        # What pruning does: delete the whole batch, resume key included, and commit.
        doomed = [*batch, *(gone_ahead - set(seen))]
        scratch.execute(sa.delete(Item).where(Item.id.in_(doomed)))
        scratch.commit()

    assert seen == [file_id for file_id in in_order if file_id not in gone_ahead]
    assert count_items(scratch) == 0
