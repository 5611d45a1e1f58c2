"""The web console behind the gateway: every path outside ``/api`` and the gateway's own.

The console (``web/``) is a client of the public API like any other, so the gateway
treats it as a plain upstream web server: no token is verified here and no internal
credential is minted (the console signs its users in itself, with their own tokens
on its calls to ``/api``). Its pages, redirects, cookies and error pages reach the
browser as it wrote them; the gateway adds only its security headers where the
console set none.

Bodies stream both ways under the client idle timeout, as uploads do on the API: a
phone on a slow network posting a photo holds no buffer of the gateway's, and one
that stalls is cut off.
"""

from __future__ import annotations

import logging

import urllib3
from flask import Flask, Response, request
from urllib3.exceptions import HTTPError
from werkzeug.exceptions import RequestEntityTooLarge

from gateway import context
from gateway.bodies import idle_timeout, streamed_body
from gateway.client_ip import parse_networks
from gateway.proxy import HOP_BY_HOP, POOL_SIZE, hop_by_hop, streamed_answer, upstream_target
from gateway.web_security import came_over_https
from shared.config import Settings
from shared.errors import APIError
from shared.logs import REQUEST_ID_HEADER

logger = logging.getLogger("frota.gateway.console")

# What the browser sends that the console must not believe: the client's address and
# scheme are the gateway's to tell.
STRIPPED = HOP_BY_HOP | {
    "host",
    "content-length",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "forwarded",
    "x-real-ip",
    REQUEST_ID_HEADER.lower(),
}
METHODS = ["GET", "HEAD", "POST"]
# The largest form the console takes: an inspection with a few phone photos.
FORM_PHOTOS = 6


def register_console(app: Flask, settings: Settings) -> None:
    trusted = parse_networks(settings.trusted_proxies)
    pool = urllib3.connection_from_url(settings.web_url, maxsize=POOL_SIZE, block=False)
    max_body = FORM_PHOTOS * settings.media_max_upload_mb * 1024 * 1024 + 256 * 1024
    timeout = urllib3.Timeout(
        connect=settings.upstream_connect_timeout, read=settings.upload_read_timeout
    )

    def console(path: str = "") -> Response:
        if request.path == "/api" or request.path.startswith("/api/"):
            raise APIError(404, message="No such resource")
        length = request.content_length
        if length is not None and length > max_body:
            raise RequestEntityTooLarge()
        served = context.current()
        headers = {
            name: value for name, value in request.headers.items() if name.lower() not in STRIPPED
        }
        headers["X-Forwarded-For"] = served.client_ip
        headers["X-Forwarded-Proto"] = "https" if came_over_https(trusted) else "http"
        headers[REQUEST_ID_HEADER] = served.request_id
        body = None
        if length:
            headers["Content-Length"] = str(length)
            body = streamed_body(request.environ, length=length, limit=max_body)
        try:
            with idle_timeout(request.environ, settings.client_idle_timeout_seconds):
                upstream = pool.urlopen(
                    request.method,
                    upstream_target(),
                    body=body,
                    headers=headers,
                    retries=False,
                    redirect=False,
                    timeout=timeout,
                    preload_content=False,
                    decode_content=False,
                    assert_same_host=False,
                )
        except APIError:
            raise  # the client's own fault while sending its body (408, 400, 413)
        except HTTPError as exc:
            logger.warning("the web console did not answer: %s", exc)
            raise APIError(502, "upstream_error", "The web console failed to answer") from exc
        drop = hop_by_hop(upstream.headers)
        kept = [(k, v) for k, v in upstream.headers.items() if k.lower() not in drop]
        return Response(
            streamed_answer(upstream, request.environ, settings.client_idle_timeout_seconds),
            status=upstream.status,
            headers=kept,
            direct_passthrough=True,
        )

    app.add_url_rule("/", "console", console, methods=METHODS)
    app.add_url_rule("/<path:path>", "console", console, methods=METHODS)
