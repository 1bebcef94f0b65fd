"""Stage 5: credential injection. Turns an instance's decrypted secret into request auth.

The secret is fetched (and decrypted) once per call and re-applied on every attempt, so a
refreshed token is used by the retry that follows a 401.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from cuervo_fabric.domain.models import ConnectorInstance
from cuervo_fabric.errors import AuthRequiredError

__all__ = ["CredentialInjector", "describe"]


def describe(instance: ConnectorInstance) -> str:
    """Which credential a call uses, for ``--explain`` (never the secret itself)."""
    return f"{instance.auth_type} of instance {instance.name}"


class CredentialInjector:
    """Applies an instance's credential to outgoing headers."""

    def __init__(
        self,
        instance: ConnectorInstance,
        load_secret: Callable[[], dict[str, Any]],
    ) -> None:
        self.instance = instance
        self._load = load_secret
        self._secret: dict[str, Any] | None = None

    def secret(self) -> dict[str, Any]:
        if self._secret is None:
            self._secret = self._load()
        return self._secret

    def invalidate(self) -> None:
        """Forget the cached secret (after a refresh, the next attempt re-reads it)."""
        self._secret = None

    def apply(self, headers: dict[str, str]) -> None:
        kind = self.instance.auth_type
        if kind == "none":
            return
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
        elif kind == "mtls":
            return  # the client certificate is set on the transport, not in headers

    def redact(self, text: str) -> str:
        """Remove every secret value of this instance from ``text``."""
        if self.instance.auth_type == "none" or self._secret is None:
            return text
        for value in _secret_values(self._secret):
            if len(value) >= 4:
                text = text.replace(value, "[REDACTED]")
        return text


def _secret_values(secret: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for value in secret.values():
        if isinstance(value, str):
            out.append(value)
            out.append(base64.b64encode(value.encode()).decode())
    if "username" in secret and "password" in secret:
        raw = f"{secret['username']}:{secret['password']}".encode()
        out.append(base64.b64encode(raw).decode())
    return out
