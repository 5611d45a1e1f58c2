"""What the gateway knows about the request it serves, established once before anything else.

:func:`register_request_context` adds the gateway's first ``before_request``
hook (gateway/__init__.py says why it must be first). Every later hook and
the view read the same :class:`RequestContext` through :func:`current`: the
rate limiter keys on its client identity or address, the proxy view raises its
auth error or forwards with its identity, metrics label by its route.

The client's identity here is a :class:`gateway.client_auth.ClientIdentity`,
the verified client token. It is never ``g.identity``: in every app that name
is a service's :class:`shared.internal_auth.Identity`, the identity an
internal credential carries.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, g, request

from gateway.client_auth import ClientIdentity, authenticate_request
from gateway.client_ip import client_ip, parse_networks
from gateway.routing import Access, Route, build_route_table, find_route
from shared.config import Settings
from shared.errors import APIError
from shared.logs import REQUEST_ID_HEADER, is_valid_request_id, new_request_id


@dataclass(slots=True)
class RequestContext:
    """The gateway's facts about one request; written only by its opening hook."""

    # The client's X-Request-ID if well formed, else a fresh one. Also set as
    # ``g.request_id``, where shared/ (logs, error bodies, service calls) reads it
    # in every app.
    request_id: str
    # The client's address as the trusted proxies report it (gateway/client_ip.py).
    client_ip: str
    # The route table's entry for the path; None when no service serves it (404).
    route: Route | None
    # The verified client token; None on public routes and when it was refused.
    client: ClientIdentity | None = None
    # Why the token was refused: raised by the view, so that the rate limiter
    # counts the request first (a client guessing tokens is limited too).
    auth_error: APIError | None = None

    @property
    def user_id(self) -> str | None:
        """The client's user id, for the access log."""
        return self.client.user_id if self.client is not None else None

    @property
    def metrics_route(self) -> str | None:
        """The route's prefix, the label of the request's metrics (low cardinality)."""
        return self.route.prefix if self.route is not None else None


def current() -> RequestContext:
    """The context of the request being served (opened by the gateway's first hook)."""
    context: RequestContext = g.gateway_request
    return context


def register_request_context(app: Flask, settings: Settings) -> None:
    """Open each request's :class:`RequestContext`: request id, address, route, identity."""
    table = build_route_table(settings)
    trusted = parse_networks(settings.trusted_proxies)

    @app.before_request
    def open_request_context() -> None:
        claimed = request.headers.get(REQUEST_ID_HEADER)
        context = RequestContext(
            request_id=claimed if is_valid_request_id(claimed) else new_request_id(),
            client_ip=client_ip(request.remote_addr or "", request.headers, trusted),
            route=find_route(table, request.method, request.path),
        )
        # Stored before the token is checked: whatever fails there, later hooks
        # (the access log, the metrics) still find the request's context.
        g.gateway_request = context
        g.request_id = context.request_id
        if context.route is not None and context.route.access is not Access.PUBLIC:
            try:
                context.client = authenticate_request(context.route)
            except APIError as exc:
                context.auth_error = exc
