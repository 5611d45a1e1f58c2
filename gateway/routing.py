"""The gateway's route table: which service serves a path, and under what terms."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from shared.config import Settings


class Access(Enum):
    PUBLIC = "public"  # no token (login)
    ACCESS = "access"  # a valid access token
    REFRESH = "refresh"  # a valid refresh token (token refresh)


@dataclass(frozen=True)
class Route:
    prefix: str
    service: str
    access: Access = Access.ACCESS
    exact: bool = False
    methods: frozenset[str] | None = None
    max_body_bytes: int = 1024 * 1024
    read_timeout: float = 30.0
    # Uploads stream to the service as they arrive; every other body is read whole at
    # the gateway first (gateway/bodies.py says why).
    streams_body: bool = False

    def matches(self, method: str, path: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        if self.exact:
            return path == self.prefix
        return path.startswith(self.prefix)


# Routes a user who must still change the password may call.
PASSWORD_CHANGE_ALLOWED = frozenset(
    {
        ("POST", "/api/v1/auth/me/password"),
        ("POST", "/api/v1/auth/logout"),
        ("GET", "/api/v1/auth/me"),
    }
)


def build_route_table(settings: Settings) -> list[Route]:
    """The route table, most specific first."""
    json_limit = settings.json_max_body_kb * 1024
    read = settings.upstream_read_timeout
    return [
        Route(
            "/api/v1/auth/login",
            "auth",
            Access.PUBLIC,
            exact=True,
            max_body_bytes=json_limit,
            read_timeout=read,
        ),
        Route(
            "/api/v1/auth/refresh",
            "auth",
            Access.REFRESH,
            exact=True,
            max_body_bytes=json_limit,
            read_timeout=read,
        ),
        Route(
            "/api/v1/media/files",
            "media",
            exact=True,
            methods=frozenset({"POST"}),
            max_body_bytes=settings.media_max_upload_mb * 1024 * 1024 + 64 * 1024,
            read_timeout=settings.upload_read_timeout,
            streams_body=True,
        ),
        Route(
            "/api/v1/media/",
            "media",
            max_body_bytes=json_limit,
            read_timeout=settings.upload_read_timeout,
        ),
        Route("/api/v1/auth/", "auth", max_body_bytes=json_limit, read_timeout=read),
        Route("/api/v1/fleet/", "fleet", max_body_bytes=json_limit, read_timeout=read),
    ]


def find_route(table: list[Route], method: str, path: str) -> Route | None:
    for route in table:
        if route.matches(method, path):
            return route
    return None
