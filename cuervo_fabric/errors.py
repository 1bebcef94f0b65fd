"""The error tree of cuervo-fabric.

Every failure a user can cause or meet carries a stable ``code`` (scripts match on it) and a
documented process exit code. Three branches are kept apart: the caller is wrong, the provider
failed, we failed::

    FabricError
    ├── CallerError                 (the request is wrong; retrying it as is will not help)
    │   ├── InvalidInputError       INVALID_INPUT      exit 2
    │   ├── NotFoundError           NOT_FOUND          exit 3
    │   ├── UnknownActionError      UNKNOWN_ACTION     exit 4
    │   ├── InvalidStateError       INVALID_STATE      exit 5
    │   ├── AuthRequiredError       AUTH_REQUIRED      exit 6
    │   └── PermissionDeniedError   PERMISSION_DENIED  exit 8
    ├── ProviderError               (the far side said no or did not answer)
    │   ├── AuthFailedError         AUTH_FAILED        exit 7
    │   ├── RateLimitedError        RATE_LIMITED       exit 9
    │   ├── CircuitOpenError        CIRCUIT_OPEN       exit 10
    │   ├── UpstreamError           UPSTREAM_ERROR     exit 11
    │   └── FabricTimeoutError      TIMEOUT            exit 12
    └── InternalError               INTERNAL           exit 1

This module is public and imports nothing but the standard library.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "EXIT_CODES",
    "AuthFailedError",
    "AuthRequiredError",
    "CallerError",
    "CircuitOpenError",
    "FabricError",
    "FabricTimeoutError",
    "InternalError",
    "InvalidInputError",
    "InvalidStateError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProviderError",
    "RateLimitedError",
    "UnknownActionError",
    "UpstreamError",
    "error_for_code",
]


class FabricError(Exception):
    """Base of every error cuervo-fabric raises on purpose.

    Args:
        message: a sentence for a person; never contains a secret.
        retryable: whether the same call may succeed later.
        retry_after_ms: when known, how long to wait before retrying.
        details: extra machine-readable fields (e.g. ``{"field": "base_url"}``).
    """

    code: ClassVar[str] = "INTERNAL"
    exit_code: ClassVar[int] = 1
    default_retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        retryable: bool | None = None,
        retry_after_ms: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = self.default_retryable if retryable is None else retryable
        self.retry_after_ms = retry_after_ms
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        """The ``error`` object of a ConnectorResult and of ``--json`` failures."""
        out: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
        }
        if self.retry_after_ms is not None:
            out["retryAfterMs"] = self.retry_after_ms
        out.update(self.details)
        return out


class CallerError(FabricError):
    """The request is wrong: fix it before retrying."""


class ProviderError(FabricError):
    """The external service failed, refused, or did not answer in time."""


class InvalidInputError(CallerError):
    """An argument, setting, parameter or file is malformed or missing."""

    code = "INVALID_INPUT"
    exit_code = 2


class NotFoundError(CallerError):
    """The connector, instance or record does not exist (in this tenant)."""

    code = "NOT_FOUND"
    exit_code = 3


class UnknownActionError(CallerError):
    """The connector declares no such action."""

    code = "UNKNOWN_ACTION"
    exit_code = 4


class InvalidStateError(CallerError):
    """The lifecycle state machine does not allow this from the current state."""

    code = "INVALID_STATE"
    exit_code = 5


class AuthRequiredError(CallerError):
    """The instance has no usable credential yet: run ``auth login``."""

    code = "AUTH_REQUIRED"
    exit_code = 6


class PermissionDeniedError(CallerError):
    """The caller or instance is not allowed to run this capability."""

    code = "PERMISSION_DENIED"
    exit_code = 8


class AuthFailedError(ProviderError):
    """The provider rejected the credential, or it could not be decrypted."""

    code = "AUTH_FAILED"
    exit_code = 7


class RateLimitedError(ProviderError):
    """A local or provider rate limit is exhausted; see ``retry_after_ms``."""

    code = "RATE_LIMITED"
    exit_code = 9
    default_retryable = True


class CircuitOpenError(ProviderError):
    """The instance's circuit breaker is open: no call goes out until it half-opens."""

    code = "CIRCUIT_OPEN"
    exit_code = 10
    default_retryable = True


class UpstreamError(ProviderError):
    """The provider answered with an error or could not be reached."""

    code = "UPSTREAM_ERROR"
    exit_code = 11


class FabricTimeoutError(ProviderError):
    """The call did not finish within its timeout."""

    code = "TIMEOUT"
    exit_code = 12
    default_retryable = True


class InternalError(FabricError):
    """A bug or an unexpected condition on our side."""

    code = "INTERNAL"
    exit_code = 1


_BY_CODE: dict[str, type[FabricError]] = {
    cls.code: cls
    for cls in (
        InvalidInputError,
        NotFoundError,
        UnknownActionError,
        InvalidStateError,
        AuthRequiredError,
        PermissionDeniedError,
        AuthFailedError,
        RateLimitedError,
        CircuitOpenError,
        UpstreamError,
        FabricTimeoutError,
        InternalError,
    )
}

#: Process exit code for each stable error code (documented in docs/output-and-errors.md).
EXIT_CODES: dict[str, int] = {code: cls.exit_code for code, cls in _BY_CODE.items()}


def error_for_code(code: str, message: str, **kwargs: Any) -> FabricError:
    """Build the error class that owns ``code`` (``INTERNAL`` for unknown codes)."""
    return _BY_CODE.get(code, InternalError)(message, **kwargs)
