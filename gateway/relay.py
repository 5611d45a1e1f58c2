"""What of a service's answer reaches the client.

Everything a service says is relayed as it is — status, headers, body — with three
exceptions, each so that the client never learns the inside of the stack:

- URLs in ``Location``, ``Content-Location`` and ``Link`` become relative references
  (path and query kept: the gateway serves every service path under the same path), so
  a redirect built from the service's own ``Host`` (``http://fleet:8002/...``) never
  names it; ``Refresh`` is dropped, and so is any other header naming a service's
  host and port.
- An error (4xx/5xx) whose body is not JSON — an HTML page from werkzeug or gunicorn,
  a plain-text traceback — becomes the usual JSON error of the same class.
- A redirect's non-JSON body (werkzeug's "Redirecting..." page, which spells out the
  internal URL) is dropped.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from urllib.parse import urlsplit, urlunsplit

from gateway import metrics
from shared.errors import APIError

logger = logging.getLogger("frota.gateway.relay")

URL_HEADERS = frozenset({"location", "content-location"})
# Set by the gateway's own server; the service's copies would only be duplicates.
DROPPED_HEADERS = frozenset({"refresh", "server", "date"})
# Kept on a replaced error: they tell the client what to do next.
KEPT_ON_ERRORS = ("Retry-After", "Allow", "WWW-Authenticate")
LINK_TARGET = re.compile(r"<([^>]*)>")


def internal_netlocs(service_urls: Mapping[str, str]) -> frozenset[str]:
    """``host:port`` of every service, lower-cased, as it could appear in a header."""
    return frozenset(urlsplit(url).netloc.lower() for url in service_urls.values())


def relative_reference(url: str) -> str:
    """``url`` without scheme and authority; never one a browser reads as another host.

    ``http://fleet:8002/api/v1/x?y`` → ``/api/v1/x?y``. Leading slashes and
    backslashes are collapsed so that ``//evil.example/`` cannot come out of it.
    """
    parts = urlsplit(url.strip())
    if not parts.scheme and not parts.netloc and not parts.path.startswith(("/", "\\")):
        return url  # relative to the current path: names no host
    path = "/" + parts.path.lstrip("/\\")
    return urlunsplit(("", "", path, parts.query, parts.fragment))


def client_headers(
    headers: Iterable[tuple[str, str]], netlocs: frozenset[str]
) -> list[tuple[str, str]]:
    """The service's end-to-end headers as the client may see them."""
    kept = []
    for name, value in headers:
        lname = name.lower()
        if lname in DROPPED_HEADERS:
            continue
        if lname in URL_HEADERS:
            value = relative_reference(value)
        elif lname == "link":
            value = LINK_TARGET.sub(lambda m: f"<{relative_reference(m.group(1))}>", value)
        if any(netloc in value.lower() for netloc in netlocs):
            continue
        kept.append((name, value))
    return kept


def is_json(content_type: str | None) -> bool:
    mimetype = (content_type or "").split(";", 1)[0].strip().lower()
    return mimetype == "application/json" or mimetype.endswith("+json")


def replacement_error(service: str, status: int, headers: Mapping[str, str]) -> APIError:
    """The JSON error sent instead of a service's non-JSON error page.

    A 4xx keeps its status: the service judged the request, only the page is replaced.
    A 5xx is the service failing: 503 and 504 keep their meaning (503 keeps its
    Retry-After), 507 too; anything else is 502 ``upstream_error``.
    """
    kept = {name: headers[name] for name in KEPT_ON_ERRORS if name in headers}
    metrics.UPSTREAM_ERRORS.labels(service, "non_json").inc()
    logger.warning("%s service answered %s without a JSON body; replaced", service, status)
    if status < 500:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Request refused"
        return APIError(status, message=f"{phrase} ({service} service)", headers=kept)
    if status == 503:
        return APIError(
            503,
            "service_unavailable",
            f"The {service} service is unavailable; retry shortly",
            headers={"Retry-After": "5", **kept},
        )
    if status == 504:
        return APIError(504, "upstream_timeout", f"The {service} service timed out")
    if status == 507:
        return APIError(507, message=f"The {service} service is out of storage")
    return APIError(502, "upstream_error", f"The {service} service failed to answer")
