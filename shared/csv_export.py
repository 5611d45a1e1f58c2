"""``?format=csv``: lists and reports as CSV, with the same values as their JSON.

A list's CSV is the page its JSON would be (the same filters, ``limit`` and
``cursor``), one row per item with the item's fields as columns; the next
page's cursor comes in the ``X-Next-Cursor`` header.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from apiflask import Schema
from apiflask.fields import String
from apiflask.validators import OneOf
from flask import Response

from shared.pagination import Page

FORMATS = ("json", "csv")
NEXT_CURSOR_HEADER = "X-Next-Cursor"
# Spreadsheets run a cell that starts with one of these as a formula ("CSV
# injection"); user text that does is written with a leading apostrophe.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def format_field() -> String:
    return String(
        load_default="json",
        validate=OneOf(FORMATS),
        metadata={
            "description": "csv: the same data as CSV (a list's next cursor in X-Next-Cursor)"
        },
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(_cell(item) for item in value)
    text = str(value)
    if text.startswith(FORMULA_START) and not NUMBER.match(text):
        return "'" + text
    return text


def csv_response(
    rows: Iterable[Mapping[str, Any]],
    *,
    columns: Sequence[str],
    filename: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A CSV attachment with a header line of ``columns`` and one line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', **(headers or {})},
    )


def page_as_csv(page: Page, item_schema: type[Schema], *, filename: str) -> Response:
    """A page of a list as CSV, each item dumped by the schema of the JSON listing."""
    schema = item_schema()
    columns = [field.data_key or name for name, field in schema.dump_fields.items()]
    headers = {NEXT_CURSOR_HEADER: page.next_cursor} if page.next_cursor else None
    return csv_response(
        schema.dump(page.items, many=True), columns=columns, filename=filename, headers=headers
    )
