"""Stage 5: credential injection. Turns an instance's decrypted secret into request auth.

The secret is fetched (and decrypted, and refreshed first when it is about to expire) once per
call and re-applied on every attempt, so a token refreshed after a 401 is used by the retry that
follows. Only this module knows how each credential kind becomes headers; mTLS certificates go on
the transport instead (``auth.mtls``).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, Protocol

from cuervo_fabric.domain.models import ConnectorInstance
from cuervo_fabric.errors import AuthRequiredError

if TYPE_CHECKING:
    from cuervo_fabric.gateway.pipeline import Call

__all__ = ["SECRET_FIELDS", "CredentialInjector", "CredentialSource", "describe", "secret_values"]

#: Payload fields whose values are secret (redacted wherever they could show up).
SECRET_FIELDS = frozenset(
    {
        "token",
        "key",
        "password",
        "access_token",
        "refresh_token",
        "id_token",
        "private_key",
        "key_pem",
        "client_secret",
    }
)


def describe(instance: ConnectorInstance) -> str:
    """Which credential a call uses, for ``--explain`` (never the secret itself)."""
    return f"{instance.auth_type} of instance {instance.name}"


class CredentialSource(Protocol):
    """Where an injector gets secrets: the vault, through the composition root."""

    def refreshable(self, instance: ConnectorInstance) -> bool:
        """Whether the instance's credential kind can be refreshed (OAuth, service accounts...)."""
        ...

    def load(self, instance: ConnectorInstance, call: Call | None, version: bytes | None) -> dict[str, Any]:
        """The secret to use now, refreshed first when due; ``version`` as the call saw it."""
        ...

    def refresh(self, instance: ConnectorInstance, call: Call | None, rejected: dict[str, Any]) -> bool:
        """After a 401 to ``rejected``: ``True`` when a newer credential is now stored
        (refreshed here or by another process)."""
        ...


class CredentialInjector:
    """Applies an instance's credential to outgoing headers, for one call.

    Args:
        instance: whose credential.
        source: where the secret comes from (and how it is refreshed).
        call: the call, for ``--explain``.
        version: the credential's version as the call's view saw it (lets the source reuse a
            secret it already opened).
    """

    __slots__ = ("_call", "_held", "_secret", "_source", "_version", "can_refresh", "instance")

    def __init__(
        self,
        instance: ConnectorInstance,
        source: CredentialSource,
        *,
        call: Call | None = None,
        version: bytes | None = None,
    ) -> None:
        self.instance = instance
        self._source = source
        self._call = call
        self._version = version
        self._secret: dict[str, Any] | None = None
        #: Every secret this call has held (a refresh adds one), for redaction.
        self._held: list[dict[str, Any]] = []
        self.can_refresh = source.refreshable(instance)

    def secret(self) -> dict[str, Any]:
        if self._secret is None:
            self._secret = self._source.load(self.instance, self._call, self._version)
            self._held.append(self._secret)
        return self._secret

    def invalidate(self) -> None:
        """Forget the cached secret (after a refresh, the next attempt re-reads it)."""
        self._secret = None
        self._version = None

    def refresh_rejected(self) -> bool:
        """The 401 path: refresh unless another process already did; ``True`` to retry."""
        if not self.can_refresh or self._secret is None:
            return False
        changed = self._source.refresh(self.instance, self._call, self._secret)
        if changed:
            self.invalidate()
        return changed

    def apply(self, headers: dict[str, str]) -> None:
        kind = self.instance.auth_type
        if kind in ("none", "mtls"):
            return  # a client certificate is set on the transport, not in headers
        secret = self._secret if self._secret is not None else self.secret()
        if kind in ("bearer_token", "oauth2", "service_account"):
            token = secret.get("access_token") or secret.get("token")
            if not token:
                raise AuthRequiredError(
                    f"instance {self.instance.name!r} has no access token: run auth login",
                    details={"instance": self.instance.name},
                )
            headers["Authorization"] = f"Bearer {token}"
        elif kind == "api_key":
            header = str(self.instance.settings.get("api_key_header") or "X-API-Key")
            headers[header] = str(secret["key"])
        elif kind == "basic_auth":
            raw = f"{secret['username']}:{secret['password']}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()

    def redact(self, text: str) -> str:
        """Remove every secret value this call has used from ``text``."""
        seen = {value for secret in self._held for value in secret_values(secret)}
        for value in sorted(seen, key=len, reverse=True):
            text = text.replace(value, "[REDACTED]")
        return text


def secret_values(secret: dict[str, Any]) -> list[str]:
    """The secret strings of a payload, as they could appear in text (raw and base64)."""
    out: list[str] = []
    for name, value in secret.items():
        if name in SECRET_FIELDS and isinstance(value, str) and len(value) >= 4:
            out.append(value)
            out.append(base64.b64encode(value.encode()).decode())
    if "username" in secret and "password" in secret:
        raw = f"{secret['username']}:{secret['password']}".encode()
        out.append(base64.b64encode(raw).decode())
    return out
