"""The list pieces of web/templates/macros.html, rendered without a stack: the pager
carries the filters and the cursor (and renders at all on a list's later pages), and a
table's wrapper is a named, focusable region (it scrolls sideways on a phone)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask, render_template_string
from flask_babel import Babel

from web import i18n

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"

TABLE = """{% from "macros.html" import listing_table %}
{% call(row) listing_table(listing, "Things", ["Name", ("Count", "num"), ("Actions", "actions")],
                           "No thing matches.", cursor=cursor, pages="Pages of things") %}
<tr><td>{{ row.name }}</td><td class="num">{{ row.count }}</td><td></td></tr>
{% endcall %}"""


@pytest.fixture
def app() -> Flask:
    app = Flask(__name__, template_folder=str(TEMPLATES))
    Babel(app, locale_selector=lambda: "en")
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    i18n.register_filters(app)
    app.add_url_rule("/things", "things", lambda: "")
    return app


def render(app: Flask, path: str, listing: dict[str, Any], cursor: str = "cursor") -> str:
    # The request is routed as a page's would be: the pager links to its endpoint.
    with app.test_request_context(path):
        return render_template_string(TABLE, listing=listing, cursor=cursor)


def test_a_later_page_links_to_the_first_and_the_next_with_the_filters(app: Flask) -> None:
    listing = {"items": [{"name": "a", "count": 1}], "next_cursor": "c2"}
    html = render(app, "/things?q=x&cursor=c1", listing)
    assert '<a href="/things?q=x">First page</a>' in html
    assert '<a rel="next" href="/things?q=x&amp;cursor=c2">Next page</a>' in html


def test_a_second_list_pages_by_its_own_cursor(app: Flask) -> None:
    listing = {"items": [{"name": "a", "count": 1}], "next_cursor": "r2"}
    html = render(app, "/things?cursor=c1&records_cursor=r1", listing, cursor="records_cursor")
    assert 'aria-label="Pages of things"' in html
    assert '<a href="/things?cursor=c1">First page</a>' in html
    assert 'href="/things?cursor=c1&amp;records_cursor=r2">Next page</a>' in html


def test_the_table_is_a_named_focusable_region_with_its_columns(app: Flask) -> None:
    html = render(app, "/things", {"items": [{"name": "a", "count": 1}], "next_cursor": None})
    assert '<div class="table-wrap" role="region" aria-label="Things" tabindex="0">' in html
    assert '<caption class="sr-only">Things</caption>' in html
    assert '<th scope="col">Name</th>' in html
    assert '<th scope="col" class="num">Count</th>' in html
    assert '<th scope="col"><span class="sr-only">Actions</span></th>' in html
    assert "<td>a</td>" in html
    assert "pager" not in html


def test_no_rows_is_said_in_words(app: Flask) -> None:
    html = render(app, "/things", {"items": [], "next_cursor": None})
    assert "<table" not in html
    assert "<p>No thing matches.</p>" in html
