"""Stage 5: credential injection. Turns an instance's decrypted secret into request auth.

The secret is fetched (and decrypted, and refreshed first when it is about to expire) once per
call and re-applied on every attempt, so a token refreshed after a 401 is used by the retry that
follows. Only this module knows how each credential kind becomes headers; mTLS certificates go on
the transport instead (``auth.mtls``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from cuervo_fabric.domain.models import ConnectorInstance
from cuervo_fabric.errors import AuthRequiredError

__all__ = ["SECRET_FIELDS", "CredentialInjector", "describe", "secret_values"]

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


class CredentialInjector:
    """Applies an instance's credential to outgoing headers.

    Args:
        instance: whose credential.
        load_secret: returns the secret to use now (refreshed first when due).
        refresh: called once after a 401 with the secret that was rejected; ``True`` when a
            newer credential is now stored (refreshed here or by another process).
    """

    def __init__(
        self,
        instance: ConnectorInstance,
        load_secret: Callable[[], dict[str, Any]],
        *,
        refresh: Callable[[dict[str, Any] | None], bool] | None = None,
    ) -> None:
        self.instance = instance
        self._load = load_secret
        self._refresh = refresh
        self._secret: dict[str, Any] | None = None
        #: Every secret value this call has held (a refresh adds new ones), for redaction.
        self._seen: list[str] = []

    @property
    def can_refresh(self) -> bool:
        return self._refresh is not None

    def secret(self) -> dict[str, Any]:
        if self._secret is None:
            self._secret = self._load()
            self._seen.extend(secret_values(self._secret))
        return self._secret

    def invalidate(self) -> None:
        """Forget the cached secret (after a refresh, the next attempt re-reads it)."""
        self._secret = None

    def refresh_rejected(self) -> bool:
        """The 401 path: refresh unless another process already did; ``True`` to retry."""
        if self._refresh is None:
            return False
        changed = self._refresh(self._secret)
        if changed:
            self._secret = None
        return changed

    def apply(self, headers: dict[str, str]) -> None:
        kind = self.instance.auth_type
        if kind in ("none", "mtls"):
            return  # a client certificate is set on the transport, not in headers
        secret = self.secret()
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
        for value in sorted(set(self._seen), key=len, reverse=True):
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
