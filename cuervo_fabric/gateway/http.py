"""Stages 5-8 for each HTTP request a connector sends: credentials, transform, send, normalise, retry.

The connector sees an ``sdk.HttpClient``; each of its requests is retried here under the call's
timeout budget, with credentials re-applied on every attempt and provider errors normalised to
the stable codes (the provider's message kept, secrets removed).

``HttpClientPool`` keeps one ``httpx.Client`` per base URL for the life of the process, so
connections are reused across calls, and the CA bundle is loaded only when an ``https`` URL is
first requested (a plain-HTTP call never pays for TLS set-up).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import httpx

from cuervo_fabric.errors import (
    AuthFailedError,
    FabricError,
    FabricTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    UpstreamError,
)
from cuervo_fabric.gateway.credentials import CredentialInjector
from cuervo_fabric.gateway.pipeline import Call
from cuervo_fabric.gateway.ratelimit_headers import rate_limit_wait
from cuervo_fabric.gateway.retry import RetryPolicy, parse_retry_after, sleep

__all__ = ["GatewayHttpClient", "HttpClientPool", "ResponseHook", "StatelessClient", "error_for_response"]

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 529})

_DEFAULT_RETRY = RetryPolicy()
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})

#: Called with each provider response (rate-limit header parsing, metrics).
ResponseHook = Callable[[Call, httpx.Response], None]


def _provider_message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300].strip()
    if isinstance(body, dict):
        for key in ("message", "error_description", "error", "detail", "errorMessages"):
            if body.get(key):
                value = body[key]
                if isinstance(value, dict):
                    value = value.get("message", value)
                return str(value)[:300]
    return str(body)[:300]


def error_for_response(
    resp: httpx.Response, retry_after_s: float | None = None, *, now: float | None = None
) -> FabricError:
    """Normalise a provider error response into the stable error codes.

    A 429, and a 403 that is really a rate limit (GitHub: remaining 0, or a secondary limit), is
    ``RATE_LIMITED`` with ``limitType: external`` and the wait the provider asked for.
    """
    status = resp.status_code
    provider = _provider_message(resp)
    details: dict[str, Any] = {"status": status}
    if provider:
        details["providerMessage"] = provider
    msg = f"provider answered {status} {resp.reason_phrase}" + (f": {provider}" if provider else "")
    limited = rate_limit_wait(status, resp.headers, resp.text, time.time() if now is None else now)
    if limited is not None:
        retry_after_s = limited[0]
        details["rateLimit"] = limited[1].reason
    retry_ms = int(retry_after_s * 1000) if retry_after_s is not None else None
    if status == 401:
        return AuthFailedError(msg, details=details)
    if status == 429 or limited is not None:
        return RateLimitedError(msg, retry_after_ms=retry_ms, details={**details, "limitType": "external"})
    if status == 403:
        return PermissionDeniedError(msg, details=details)
    if status == 404:
        return NotFoundError(msg, details=details)
    if status == 408:
        return FabricTimeoutError(msg, details=details)
    return UpstreamError(msg, retryable=status in RETRYABLE_STATUS, retry_after_ms=retry_ms, details=details)


class _NoCookies(httpx.Cookies):
    """A cookie jar that stays empty: nothing is stored from responses or added to requests."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None


_NO_COOKIES = _NoCookies()


class StatelessClient(httpx.Client):
    """An ``httpx.Client`` that keeps no cookies.

    The gateway shares one connection pool per base URL between every instance and tenant of a
    process, so a cookie a provider set for one instance must never ride along with another's
    request; and a call's result must not depend on earlier calls. A response's ``Set-Cookie``
    headers are still there for the connector to read. (It also skips the cookie jar's parsing of
    every response, which costs as much as a tenth of a small request.)
    """

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        return None  # httpx sets an empty jar at construction; nothing else sets one


class _SchemeTransport(httpx.BaseTransport):
    """Builds each connection pool on first use: the TLS one (CA bundle, client certificate) only
    when an ``https`` URL is requested."""

    def __init__(self, cert: tuple[str, str] | None = None) -> None:
        self._cert = cert
        self._plain: httpx.HTTPTransport | None = None
        self._tls: httpx.HTTPTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "https":
            if self._tls is None:
                ctx = httpx.create_ssl_context()  # certifi, or SSL_CERT_FILE / SSL_CERT_DIR
                if self._cert is not None:
                    ctx.load_cert_chain(*self._cert)
                self._tls = httpx.HTTPTransport(verify=ctx)
            return self._tls.handle_request(request)
        if self._plain is None:
            import ssl

            # Plain HTTP never negotiates TLS; this context (verifying, with no CA loaded) only
            # spares loading the CA bundle, and would refuse any TLS peer.
            self._plain = httpx.HTTPTransport(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
        return self._plain.handle_request(request)

    def close(self) -> None:
        for pool in (self._plain, self._tls):
            if pool is not None:
                pool.close()


def _default_transport(cert: tuple[str, str] | None) -> httpx.BaseTransport | None:
    """Our lazy transport, unless the environment names a proxy: then httpx's own handling
    (``HTTPS_PROXY``, ``NO_PROXY``, ...) applies, as it does without a transport."""
    import os

    names = ("http_proxy", "https_proxy", "all_proxy")
    if any(os.environ.get(n) or os.environ.get(n.upper()) for n in names):
        return None
    return _SchemeTransport(cert)


class HttpClientPool:
    """One ``httpx.Client`` per base URL (and transport) for the life of the process."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, int, tuple[str, str] | None], httpx.Client] = {}

    def client(
        self,
        base_url: str,
        *,
        transport: httpx.BaseTransport | None = None,
        cert: tuple[str, str] | None = None,
    ) -> httpx.Client:
        key = (base_url, id(transport), cert)
        client = self._clients.get(key)
        if client is None:
            client = StatelessClient(
                base_url=base_url,
                follow_redirects=False,
                transport=transport if transport is not None else _default_transport(cert),
            )
            self._clients[key] = client
        return client

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


class GatewayHttpClient:
    """The ``sdk.HttpClient`` a connector gets for one call.

    With ``client`` (from an ``HttpClientPool``) the connection pool is shared and outlives the
    call; without it the call gets its own client, closed by ``close()``.
    """

    __slots__ = (
        "_client",
        "_owned",
        "call",
        "credentials",
        "deadline",
        "default_headers",
        "hooks",
        "refresh",
        "retry",
    )

    def __init__(
        self,
        call: Call,
        *,
        base_url: str,
        credentials: CredentialInjector,
        retry: RetryPolicy | None = None,
        response_hooks: tuple[ResponseHook, ...] = (),
        transport: httpx.BaseTransport | None = None,
        cert: tuple[str, str] | None = None,
        refresh: Callable[[], bool] | None = None,
        default_headers: Mapping[str, str] | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.call = call
        self.credentials = credentials
        self.retry = retry or _DEFAULT_RETRY
        self.hooks = response_hooks
        self.refresh = refresh
        self.deadline = time.monotonic() + call.action.timeout_ms / 1000
        self.default_headers: Mapping[str, str] = default_headers or _NO_HEADERS
        self._owned = client is None
        if client is None:
            client = StatelessClient(
                base_url=base_url,
                follow_redirects=False,
                transport=transport if transport is not None else _default_transport(cert),
            )
        self._client = client

    def close(self) -> None:
        if self._owned:
            self._client.close()

    # -- the sdk.HttpClient surface -------------------------------------------------
    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        raise_for_status: bool = True,
    ) -> httpx.Response:
        method = method.upper()
        call = self.call
        key = call.action.idempotency_key
        refreshed = False
        retries = 0
        meta = call.metadata
        while True:
            attempt_headers = {**self.default_headers, **headers} if headers else dict(self.default_headers)
            if key and method not in ("GET", "HEAD", "OPTIONS"):
                attempt_headers.setdefault("Idempotency-Key", key)
            self.credentials.apply(attempt_headers)
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise FabricTimeoutError(
                    f"the call's timeout ({call.action.timeout_ms} ms) ran out before {method} {url}"
                )
            meta.attempts += 1
            meta.api_calls += 1
            started = time.perf_counter()
            try:
                resp = self._client.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    content=content,
                    headers=attempt_headers,
                    timeout=remaining,
                )
                error: FabricError | None = None
            except httpx.TimeoutException:
                resp = None
                error = FabricTimeoutError(f"{method} {url} timed out", retryable=True)
            except httpx.TransportError as exc:
                resp = None
                error = UpstreamError(
                    f"cannot reach the provider: {self.credentials.redact(str(exc)) or type(exc).__name__}",
                    retryable=True,
                    details={"transport": type(exc).__name__},
                )
            elapsed_ms = (time.perf_counter() - started) * 1000
            retry_after: float | None = None
            if resp is not None:
                for hook in self.hooks:
                    hook(call, resp)
                status = resp.status_code
                if 200 <= status < 300 or not raise_for_status or status in (301, 302, 304, 307, 308):
                    if call.trace is not None:
                        call.explain(
                            "http",
                            method=method,
                            url=url.split("?", 1)[0],  # never a query: it may carry a key
                            status=status,
                            ms=round(elapsed_ms, 2),
                            attempt=meta.attempts,
                        )
                    return resp
                if resp.status_code == 401 and self.refresh is not None and not refreshed:
                    refreshed = True
                    self.call.explain("http", method=method, status=401, action="refresh credentials")
                    if self.refresh():
                        self.credentials.invalidate()
                        continue
                retry_after = parse_retry_after(resp.headers.get("retry-after"))
                error = error_for_response(resp, retry_after)
                if error.code == "RATE_LIMITED" and error.retry_after_ms is not None:
                    retry_after = error.retry_after_ms / 1000
            assert error is not None
            error.message = self.credentials.redact(error.message)
            for name, value in error.details.items():  # e.g. a provider quoting the credential back
                if isinstance(value, str):
                    error.details[name] = self.credentials.redact(value)
            self.call.explain(
                "http",
                method=method,
                url=url.split("?", 1)[0],
                error=error.code,
                status=resp.status_code if resp is not None else None,
                ms=round(elapsed_ms, 2),
                attempt=self.call.metadata.attempts,
            )
            # POST-like requests, and every request of an action declared mutating, are retried
            # only with an idempotency key.
            cap = call.capability
            may_retry = self.retry.may_retry(method, key) and (
                key is not None or cap is None or not cap.mutating
            )
            if not (error.retryable and may_retry and retries < self.retry.max_retries):
                if error.retryable and not may_retry:
                    error.details["notRetried"] = "a POST-like or mutating request without an idempotency key"
                raise error
            retries += 1
            wait = retry_after if retry_after is not None else self.retry.backoff(retries)
            left = self.deadline - time.monotonic()
            if wait >= left:
                error.retry_after_ms = int(wait * 1000)
                error.details["notRetried"] = "the wait would pass the call's timeout"
                raise error
            self.call.explain(
                "retry",
                retry=retries,
                wait_s=round(wait, 3),
                reason="Retry-After" if retry_after is not None else "backoff",
            )
            sleep(wait)
