"""Photos and files shown on the console's pages, fetched from the API as the user.

The browser holds no token, so an ``<img>`` cannot ask the API itself: these routes
do, with the signed-in user's token, and stream the bytes back. The API decides who
may see what (a driver only their own uploads); its 404 is this page's 404.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from web.session import EVERYONE, api, page

bp = Blueprint("media", __name__, url_prefix="/media")

# Kept by the browser only, for an hour: a file's bytes never change under its id.
CACHE = "private, max-age=3600"
RELAYED = ("Content-Type", "Content-Length", "ETag", "Content-Disposition")


def _relay(path: str, **params: Any) -> Response:
    upstream, chunks = api().stream(path, **params)
    headers = {name: upstream.headers[name] for name in RELAYED if name in upstream.headers}
    return Response(chunks, headers={**headers, "Cache-Control": CACHE})


@bp.get("/<uuid:file_id>/thumbnail")
@page(EVERYONE)
def thumbnail(file_id: Any) -> Response:
    return _relay(f"/media/files/{file_id}/thumbnail", size=160)


@bp.get("/<uuid:file_id>")
@page(EVERYONE)
def content(file_id: Any) -> Response:
    return _relay(f"/media/files/{file_id}/content")
