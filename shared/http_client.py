"""HTTP client for calls from one service to another.

Pooled connections (one ``requests.Session`` per client), connect/read
timeouts on every call, the request id and a fresh internal credential passed
on, retries of idempotent calls on connection errors left to urllib3's
``Retry`` rather than a hand-written loop.
"""

from __future__ import annotations

from typing import Any

import requests
from flask import g, has_request_context
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from shared.config import Settings
from shared.errors import APIError
from shared.internal_auth import INTERNAL_TOKEN_HEADER, mint_internal_token
from shared.logs import REQUEST_ID_HEADER, new_request_id


class ServiceClient:
    """Calls one other service as ``caller``, on behalf of the current user if any."""

    def __init__(
        self,
        *,
        caller: str,
        target: str,
        base_url: str,
        secret: str,
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
        pool_size: int = 10,
    ) -> None:
        self.caller = caller
        self.target = target
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.timeout = (connect_timeout, read_timeout)
        retry = Retry(
            total=2,
            connect=2,
            read=0,
            status=0,
            backoff_factor=0.1,
            allowed_methods=frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}),
        )
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def _headers(self, on_behalf_of_user: bool) -> dict[str, str]:
        identity = g.get("identity") if has_request_context() else None
        request_id = g.get("request_id") if has_request_context() else None
        request_id = request_id or new_request_id()
        user_id = identity.user_id if (identity and on_behalf_of_user) else None
        role = identity.role if (identity and on_behalf_of_user) else None
        token = mint_internal_token(
            self.secret,
            issuer=self.caller,
            audience=self.target,
            request_id=request_id,
            user_id=user_id,
            role=role,
        )
        return {INTERNAL_TOKEN_HEADER: token, REQUEST_ID_HEADER: request_id}

    def request(
        self, method: str, path: str, *, on_behalf_of_user: bool = True, **kwargs: Any
    ) -> requests.Response:
        """Send one request; connection failures and timeouts become 502/504 APIErrors."""
        headers = {**kwargs.pop("headers", {}), **self._headers(on_behalf_of_user)}
        try:
            return self.session.request(
                method, self.base_url + path, headers=headers, timeout=self.timeout, **kwargs
            )
        except requests.Timeout as exc:
            raise APIError(504, "upstream_timeout", f"The {self.target} service timed out") from exc
        except requests.ConnectionError as exc:
            raise APIError(
                502, "upstream_unavailable", f"The {self.target} service is unavailable"
            ) from exc

    @classmethod
    def for_service(cls, settings: Settings, *, caller: str, target: str) -> ServiceClient:
        """A client from ``caller`` to ``target`` at the URL and timeouts the settings give."""
        return cls(
            caller=caller,
            target=target,
            base_url=settings.service_urls[target],
            secret=settings.internal_secret_key,
            connect_timeout=settings.upstream_connect_timeout,
        )

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def find(self, path: str) -> dict[str, Any] | None:
        """One resource as JSON, or None when the service has no such thing (404).

        Any other answer is the other service failing us: 502.
        """
        response = self.get(path)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise APIError(
                502, "upstream_unavailable", f"The {self.target} service could not answer"
            )
        body: dict[str, Any] = response.json()
        return body
