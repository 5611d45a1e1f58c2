"""HTTP client for every call inside the stack that is not a client's request streamed.

The services' calls to each other and the gateway's own (revocation state,
OpenAPI documents, health probes) all go through :class:`ServiceClient`:
pooled connections, connect/read timeouts from the settings, the request id
and a fresh internal credential passed on (lifetime ``INTERNAL_TOKEN_TTL_SECONDS``),
retries of refused connections left to urllib3's ``Retry`` rather than a
hand-written loop. The gateway's proxy streams client requests over the same
pools, with a credential minted by :meth:`ServiceClient.credential_headers`,
and maps its failures with :func:`upstream_error`, so that a failure reads
the same whoever met it.

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

import urllib3
from flask import g, has_request_context
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

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
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class UpstreamError(APIError):
    """A call to another service that got no answer: 502 (unreachable, broken) or 504 (slow).

    ``kind`` is ``refused``, ``timeout`` or ``broken`` (the gateway counts them
    by it); ``cause`` is the transport's own exception.
    """

    def __init__(self, target: str, kind: str, cause: BaseException) -> None:
        if kind == "timeout":
            super().__init__(504, "upstream_timeout", f"The {target} service timed out")
        else:
            super().__init__(502, "upstream_unavailable", f"The {target} service is unavailable")
        self.kind = kind
        self.cause = cause


def upstream_error(target: str, exc: BaseException, *, log: bool = True) -> UpstreamError | None:
    """The answer to give for a call to ``target`` that failed with ``exc`` (logged if ``log``).

    None when ``exc`` is not a transport failure (the caller's own bug, say):
    that one propagates as it is.
    """
    cause = exc.reason if isinstance(exc, MaxRetryError) and exc.reason else exc
    # NewConnectionError subclasses ConnectTimeoutError: test it first.
    if isinstance(cause, NewConnectionError):
        kind = "refused"
    elif isinstance(cause, ReadTimeoutError | ConnectTimeoutError | TimeoutError):
        kind = "timeout"
    elif isinstance(cause, ProtocolError | HTTPError | OSError):
        kind = "broken"  # reset, cut off mid-answer, garbled
    else:
        return None
    if log:
        logger.warning("%s service failed a call (%s): %s", target, kind, cause)
    return UpstreamError(target, kind, cause)


def unavailable_from(response: urllib3.BaseHTTPResponse, *, target: str) -> APIError:
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
        token_ttl_seconds: int = 30,
        connect_retries: int = 2,
        pool_size: int = 10,
        log_failures: bool = True,
    ) -> None:
        self.caller = caller
        self.target = target
        self.secret = secret
        self.token_ttl_seconds = token_ttl_seconds
        self.log_failures = log_failures
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        retry = urllib3.Retry(
            total=connect_retries,
            connect=connect_retries,
            # False, not 0: with 0 a read timeout comes back wrapped as a retry
            # error. False raises the timeout itself, and a slow service is not
            # asked again.
            read=False,
            status=0,
            redirect=0,
            backoff_factor=0.1,
            allowed_methods=IDEMPOTENT,
            # Retry on refused connections only. By default urllib3 also retries a 503
            # that carries Retry-After and, with no status retries left, raises
            # instead of returning it: a media service answering "database down,
            # retry in 5 s" became a 500 of the fleet's.
            respect_retry_after_header=False,
            raise_on_status=False,
        )
        # Not blocking: past ``pool_size`` busy connections another is opened
        # and dropped after use, rather than a request waiting for one.
        self.pool = urllib3.connection_from_url(
            base_url, maxsize=pool_size, block=False, retries=retry
        )

    @classmethod
    def for_service(
        cls,
        settings: Settings,
        *,
        caller: str,
        target: str,
        connect_retries: int = 2,
        pool_size: int = 10,
        log_failures: bool = True,
    ) -> ServiceClient:
        """A client from ``caller`` to ``target`` at the URL, timeouts and TTL the settings give."""
        return cls(
            caller=caller,
            target=target,
            base_url=settings.service_urls[target],
            secret=settings.internal_secret_key,
            connect_timeout=settings.upstream_connect_timeout,
            read_timeout=settings.internal_read_timeout,
            token_ttl_seconds=settings.internal_token_ttl_seconds,
            connect_retries=connect_retries,
            pool_size=pool_size,
            log_failures=log_failures,
        )

    def credential_headers(self, *, request_id: str, **claims: Any) -> dict[str, str]:
        """The internal credential (and request id) for one call to the target service.

        ``claims`` are :func:`shared.internal_auth.mint_internal_token`'s optional
        ones (user, role, client address, the client token's id and expiry).
        """
        token = mint_internal_token(
            self.secret,
            issuer=self.caller,
            audience=self.target,
            request_id=request_id,
            ttl_seconds=self.token_ttl_seconds,
            **claims,
        )
        return {INTERNAL_TOKEN_HEADER: token, REQUEST_ID_HEADER: request_id}

    def _headers(self, on_behalf_of_user: bool) -> dict[str, str]:
        identity = g.get("identity") if has_request_context() else None
        request_id = g.get("request_id") if has_request_context() else None
        if identity is None or not on_behalf_of_user:
            return self.credential_headers(request_id=request_id or new_request_id())
        return self.credential_headers(
            request_id=request_id or new_request_id(),
            user_id=identity.user_id,
            role=identity.role,
        )

    def _timeout(self) -> urllib3.Timeout:
        """Connect and read timeouts for the next call, within the request's budget.

        Every call a request makes to other services shares one read timeout's
        worth of waiting: an inspection citing 50 photos of a slow media service
        would otherwise hold a worker thread for 50 read timeouts, long after
        the gateway had answered 504.
        """
        connect, read = self.connect_timeout, self.read_timeout
        if not has_request_context():
            return urllib3.Timeout(connect=connect, read=read)
        deadline = g.setdefault("service_calls_deadline", time.monotonic() + read)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ReadTimeoutError(self.pool, None, "no time left for another call")
        return urllib3.Timeout(connect=connect, read=min(read, remaining))

    def request(
        self,
        method: str,
        path: str,
        *,
        on_behalf_of_user: bool = True,
        timeout: urllib3.Timeout | None = None,
        **kwargs: Any,
    ) -> urllib3.BaseHTTPResponse:
        """Send one request; a transport failure becomes :class:`UpstreamError` (502/504).

        The answer is returned whatever its status: :meth:`get_json` reads it.
        ``timeout`` replaces the request's budget for a caller with a bound of
        its own (the gateway's revocation poll, its health probes).
        """
        headers = {**kwargs.pop("headers", {}), **self._headers(on_behalf_of_user)}
        try:
            return self.pool.request(
                method, path, headers=headers, timeout=timeout or self._timeout(), **kwargs
            )
        except Exception as exc:
            error = upstream_error(self.target, exc, log=self.log_failures)
            if error is None:
                raise
            raise error from exc

    def get_json(
        self,
        path: str,
        *,
        on_behalf_of_user: bool = True,
        timeout: urllib3.Timeout | None = None,
    ) -> dict[str, Any]:
        """A JSON object the service answers 200 with.

        A 503 of the other service is passed on as 503 with its code and
        Retry-After; any other answer (or a body that is not a JSON object) is
        the other service failing us: 502.
        """
        response = self.request("GET", path, on_behalf_of_user=on_behalf_of_user, timeout=timeout)
        return self._json_object(response, path)

    def find(self, path: str) -> dict[str, Any] | None:
        """One resource as JSON, or None when the service has no such thing (404).

        Any other answer is read as :meth:`get_json` reads it.
        """
        response = self.request("GET", path)
        if response.status == 404:
            return None
        return self._json_object(response, path)

    def _json_object(self, response: urllib3.BaseHTTPResponse, path: str) -> dict[str, Any]:
        if response.status == 503:
            raise unavailable_from(response, target=self.target)
        failed = APIError(
            502, "upstream_unavailable", f"The {self.target} service could not answer"
        )
        if response.status != 200:
            # The path only: a query may carry token ids.
            logger.warning(
                "%s service answered %s for %s", self.target, response.status, path.split("?")[0]
            )
            raise failed
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            logger.warning("%s service answered a body that is not a JSON object", self.target)
            raise failed
        return body

    def close(self) -> None:
        """Close the pooled connections (the client opens new ones if used again)."""
        self.pool.close()
