"""The console's one way to call the public API: through the gateway, as the signed-in user.

Every call carries the user's own access token from the session (never an internal
credential: the console has none) and the browser's address, request id and
language. An expired access token is refreshed once, transparently; tokens the API
refuses outright (revoked by logout, a password change or deactivation) end the
session. Any other refusal is an :class:`ApiError` with the API's code and
per-field details, for the page to show beside its fields.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from flask import g, request, session

from shared.logs import REQUEST_ID_HEADER

# The token the API refused, as its error codes say (shared/tokens.py, gateway/client_auth.py).
EXPIRED = "token_expired"
PASSWORD_GATE = "password_change_required"
CHUNK_SIZE = 64 * 1024


@dataclass
class ApiError(Exception):
    """A refusal of the API: its status, code, message and per-field details."""

    status: int
    code: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)
    retry_after: int | None = None

    @classmethod
    def from_response(cls, response: requests.Response) -> ApiError:
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            error = {}
        retry_after = response.headers.get("Retry-After", "")
        return cls(
            response.status_code,
            str(error.get("code") or "error"),
            str(error.get("message") or response.reason),
            error.get("details") or {},
            int(retry_after) if retry_after.isdigit() else None,
        )


class SignedOut(Exception):
    """The API no longer accepts this session's tokens: the user must sign in again."""


class PasswordChangeRequired(Exception):
    """The user must change the one-time password before anything else."""


class Api:
    """A client of the gateway's ``/api/v1``; one per process, safe across threads."""

    def __init__(self, base_url: str, *, timeout: float) -> None:
        self.base_url = base_url.rstrip("/") + "/api/v1"
        self.timeout = timeout
        self._local = threading.local()

    @property
    def _http(self) -> requests.Session:
        # requests' Session is not documented thread-safe: one per worker thread,
        # each keeping its connections to the gateway alive.
        http = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = requests.Session()
        return http

    def _headers(self, token: str | None) -> dict[str, str]:
        headers = {
            "X-Forwarded-For": request.remote_addr or "",
            "Accept-Language": request.headers.get("Accept-Language", ""),
        }
        request_id = g.get("request_id")
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def send(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        stream: bool = False,
        **options: Any,
    ) -> requests.Response:
        """One call, as ``token`` (default: the session's access token); errors raised."""
        tokens = session.get("tokens") or {}
        response = self._once(method, path, token or tokens.get("access"), stream, options)
        if response.status_code == 401 and token is None and tokens:
            error = ApiError.from_response(response)
            if error.code != EXPIRED or not self._refresh(tokens):
                session.clear()
                raise SignedOut
            response = self._once(method, path, session["tokens"]["access"], stream, options)
            if response.status_code == 401:
                session.clear()
                raise SignedOut
        if response.status_code >= 400:
            error = ApiError.from_response(response)
            response.close()
            if error.code == PASSWORD_GATE:
                raise PasswordChangeRequired
            raise error
        return response

    def _once(
        self, method: str, path: str, token: str | None, stream: bool, options: dict[str, Any]
    ) -> requests.Response:
        try:
            return self._http.request(
                method,
                self.base_url + path,
                headers=self._headers(token),
                timeout=self.timeout,
                stream=stream,
                allow_redirects=False,
                **options,
            )
        except requests.RequestException as exc:
            raise ApiError(503, "api_unreachable", str(exc)) from exc

    def _refresh(self, tokens: Mapping[str, str]) -> bool:
        response = self._once("POST", "/auth/refresh", tokens.get("refresh"), False, {})
        if response.status_code != 200:
            return False
        session["tokens"] = {**tokens, "access": response.json()["access_token"]}
        return True

    def get(self, path: str, **params: Any) -> Any:
        """The JSON of a GET; ``None`` parameters are left out."""
        query = {name: value for name, value in params.items() if value is not None}
        return self.send("GET", path, params=query).json()

    def post(self, path: str, body: Mapping[str, Any] | None = None, **options: Any) -> Any:
        response = self.send("POST", path, json=dict(body or {}), **options)
        return response.json() if response.content else None

    def patch(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.send("PATCH", path, json=dict(body)).json()

    def delete(self, path: str) -> None:
        self.send("DELETE", path)

    def stream(self, path: str, **params: Any) -> tuple[requests.Response, Iterator[bytes]]:
        """A GET streamed back in chunks (files, CSV), with its response for the headers."""
        response = self.send("GET", path, params=params, stream=True)
        return response, response.iter_content(CHUNK_SIZE)
