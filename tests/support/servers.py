"""A WSGI app served over real HTTP from a thread, for what a test client cannot do."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from werkzeug.serving import make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


@contextmanager
def serving(app: WSGIApplication, *, threaded: bool = True) -> Iterator[str]:
    """Serve ``app`` with werkzeug's real HTTP server on a free port; yield its base URL.

    A real server is what other services' clients, raw sockets and chunked bodies need:
    a chunked request body arrives de-chunked, with ``wsgi.input_terminated`` set, as
    under gunicorn. ``threaded=False`` answers one request at a time, for apps that
    share the test's one database transaction.
    """
    server = make_server("127.0.0.1", 0, app, threaded=threaded)
    # A short poll interval: shutdown() waits for the loop to notice, once per use.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
