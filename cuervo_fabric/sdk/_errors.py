"""Typed errors for connector authors: HTTP statuses and provider error bodies onto the stable codes.

The gateway already turns failed HTTP responses into these errors. Use ``error_for_status`` when a
provider reports a failure inside a successful response (a GraphQL ``errors`` array, Slack's
``"ok": false``), so the caller still sees the same stable code.
"""

from __future__ import annotations

from typing import Any

from cuervo_fabric.errors import (
    AuthFailedError,
    FabricError,
    FabricTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    UpstreamError,
)

__all__ = ["RETRYABLE_STATUSES", "error_for_status"]

#: HTTP statuses worth retrying (the gateway retries these on idempotent requests).
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 529})


def error_for_status(
    status: int,
    message: str = "",
    *,
    retry_after_s: float | None = None,
    details: dict[str, Any] | None = None,
) -> FabricError:
    """The stable error for an HTTP status, as the gateway maps provider responses.

    401 AUTH_FAILED, 403 PERMISSION_DENIED, 404 NOT_FOUND, 408 TIMEOUT, 429 RATE_LIMITED, anything
    else UPSTREAM_ERROR (retryable for 5xx and 529).

    Args:
        status: the HTTP status (or the status a provider's error body implies).
        message: the provider's words; never include a secret.
        retry_after_s: when the provider said when to come back.
        details: extra machine-readable fields.

    Returns:
        The error to raise.

    Example:
        >>> from cuervo_fabric.sdk import error_for_status
        >>> body = {"ok": False, "error": "ratelimited"}
        >>> err = error_for_status(429, body["error"], retry_after_s=30)
        >>> (err.code, err.retryable, err.retry_after_ms)
        ('RATE_LIMITED', True, 30000)
    """
    info: dict[str, Any] = {"status": status, **(details or {})}
    text = message or f"provider answered {status}"
    retry_ms = int(retry_after_s * 1000) if retry_after_s is not None else None
    if status == 401:
        return AuthFailedError(text, details=info)
    if status == 403:
        return PermissionDeniedError(text, details=info)
    if status == 404:
        return NotFoundError(text, details=info)
    if status == 408:
        return FabricTimeoutError(text, retry_after_ms=retry_ms, details=info)
    if status == 429:
        return RateLimitedError(text, retry_after_ms=retry_ms, details={**info, "limitType": "external"})
    return UpstreamError(text, retryable=status in RETRYABLE_STATUSES, retry_after_ms=retry_ms, details=info)
