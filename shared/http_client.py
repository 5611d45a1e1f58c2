"""HTTP client for calls from one service to another.

Pooled connections (one ``requests.Session`` per client), connect/read
timeouts on every call, the request id and a fresh internal credential passed
on, retries of idempotent calls on connection errors left to urllib3's
``Retry`` rather than a hand-written loop.

What the caller answers when the other service fails it, so that a fault reads
the same whether the client's request was served by one service or by two:

- the other service answers 503 (its database is down, say): 503 with the same
  error code and ``Retry-After``;
- it cannot be reached (refused, reset, garbled): 502 ``upstream_unavailable``;
- it is too slow: 504 ``upstream_timeout``;
- any other unexpected answer: 502 ``upstream_unavailable``.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import requests
from flask import g, has_request_context
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from shared.config import Settings
from shared.errors import APIError
from shared.internal_auth import INTERNAL_TOKEN_HEADER, mint_internal_token
from shared.logs import REQUEST_ID_HEADER, new_request_id

logger = logging.getLogger("frota.http_client")

# What a 503 passed on may carry: a snake_case code and a delay in seconds, as our
# services send them (anything else is replaced, never relayed).
ERROR_CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
RETRY_AFTER_PATTERN = re.compile(r"^[0-9]{1,5}$")
DEFAULT_RETRY_AFTER = "5"


def unavailable_from(response: requests.Response, *, target: str) -> APIError:
    """The 503 to answer when ``target`` answered 503: its code and Retry-After, passed on.

    A client that asked the fleet for something that needed the media service
    learns what it would have learnt asking the media service: that it may
    retry, and when.
    """
    code, message = "service_unavailable", f"The {target} service is unavailable; retry shortly"
    try:
        error = response.json()["error"]
        if ERROR_CODE_PATTERN.match(error["code"]) and isinstance(error["message"], str):
            code, message = error["code"], error["message"]
    except (ValueError, KeyError, TypeError):
        pass
    retry_after = response.headers.get("Retry-After", "")
    if not RETRY_AFTER_PATTERN.match(retry_after):
        retry_after = DEFAULT_RETRY_AFTER
    return APIError(503, code, message, headers={"Retry-After": retry_after})


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
            # False, not 0: with 0 a read timeout comes back wrapped as a retry
            # error, which requests reports as a ConnectionError (a slow service
            # was answered 502 instead of 504). False raises the timeout itself.
            read=False,
            status=0,
            backoff_factor=0.1,
            allowed_methods=frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}),
            # Retry on refused connections only. By default urllib3 also retries a 503
            # that carries Retry-After and, with no status retries left, raises
            # RetryError instead of returning it: a media service answering
            # "database down, retry in 5 s" became a 500 of the fleet's.
            respect_retry_after_header=False,
            raise_on_status=False,
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

    def _timeout(self) -> tuple[float, float]:
        """Connect and read timeouts for the next call, within the request's budget.

        Every call a request makes to other services shares one read timeout's
        worth of waiting: an inspection citing 50 photos of a slow media service
        would otherwise hold a worker thread for 50 read timeouts, long after
        the gateway had answered 504.
        """
        connect, read = self.timeout
        if not has_request_context():
            return connect, read
        deadline = g.setdefault("service_calls_deadline", time.monotonic() + read)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise requests.ReadTimeout(f"no time left for another call to {self.target}")
        return connect, min(read, remaining)

    def request(
        self, method: str, path: str, *, on_behalf_of_user: bool = True, **kwargs: Any
    ) -> requests.Response:
        """Send one request; a timeout becomes a 504 APIError, any other transport failure 502.

        The answer is returned whatever its status: :meth:`find` reads it.
        """
        headers = {**kwargs.pop("headers", {}), **self._headers(on_behalf_of_user)}
        try:
            return self.session.request(
                method, self.base_url + path, headers=headers, timeout=self._timeout(), **kwargs
            )
        except requests.Timeout as exc:
            logger.warning("%s service timed out: %s", self.target, exc)
            raise APIError(504, "upstream_timeout", f"The {self.target} service timed out") from exc
        except requests.RequestException as exc:
            # Refused or reset connections, and anything else requests gives up on
            # (a garbled answer, a retry error): the other service failed us.
            logger.warning("%s service unavailable: %s", self.target, exc)
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

        A 503 of the other service is passed on as 503 with its code and
        Retry-After; any other answer (or a body that is not a JSON object) is
        the other service failing us: 502.
        """
        response = self.get(path)
        if response.status_code == 404:
            return None
        if response.status_code == 503:
            raise unavailable_from(response, target=self.target)
        failed = APIError(
            502, "upstream_unavailable", f"The {self.target} service could not answer"
        )
        if response.status_code != 200:
            logger.warning("%s service answered %s for %s", self.target, response.status_code, path)
            raise failed
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            logger.warning("%s service answered a body that is not a JSON object", self.target)
            raise failed
        return body
