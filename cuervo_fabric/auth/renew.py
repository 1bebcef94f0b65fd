"""Renewal and revocation of any stored credential, by its kind.

``renew`` is the ``Renewer`` the credential service calls under its refresh lease; ``revoke`` runs
before a credential is deleted (``auth logout``, ``connector uninstall``).

Kinds: ``oauth2`` (refresh grant), ``google_service_account`` (new assertion), ``github_app``
(new installation token), ``mtls`` (a certificate cannot renew itself: its expiry is an error that
says so), and the static ``bearer_token``, ``api_key`` and ``basic_auth``.
"""

from __future__ import annotations

from typing import Any

from cuervo_fabric.auth.oauth2 import OAuthClient, parse_scopes, token_secret
from cuervo_fabric.domain.models import ConnectorInstance
from cuervo_fabric.domain.timeutil import iso
from cuervo_fabric.errors import AuthFailedError
from cuervo_fabric.services.credentials import Renewal

__all__ = ["REFRESHABLE_AUTH_TYPES", "can_refresh", "kind_of", "renew", "revoke"]

#: Auth types whose credentials may renew (the 401 path is wired only for these).
REFRESHABLE_AUTH_TYPES = frozenset({"oauth2", "service_account"})

_LEGACY = {
    "bearer_token": "bearer_token",
    "api_key": "api_key",
    "basic_auth": "basic_auth",
    "oauth2": "oauth2",
    "mtls": "mtls",
    "service_account": "google_service_account",
}


def kind_of(instance: ConnectorInstance, secret: dict[str, Any]) -> str:
    return str(secret.get("kind") or _LEGACY.get(instance.auth_type, instance.auth_type))


def oauth_client(instance: ConnectorInstance, secret: dict[str, Any]) -> OAuthClient:
    return OAuthClient.from_settings(
        instance.settings,
        scopes=parse_scopes(secret.get("scopes")) or None,
        client_secret=secret.get("client_secret"),
    )


def can_refresh(instance: ConnectorInstance, secret: dict[str, Any]) -> bool:
    kind = kind_of(instance, secret)
    if kind == "oauth2":
        return bool(secret.get("refresh_token")) and bool(instance.settings.get("token_url"))
    return kind in ("google_service_account", "github_app")


def renew(instance: ConnectorInstance, secret: dict[str, Any]) -> Renewal:
    """A fresh credential from the provider; ``AUTH_FAILED`` when it cannot be renewed."""
    from cuervo_fabric.auth import service_account

    kind = kind_of(instance, secret)
    if kind == "oauth2":
        if not secret.get("refresh_token"):
            raise AuthFailedError(
                "the access token expired and the provider gave no refresh token: "
                f"run `cuervo-fabric auth login {instance.name}`",
                details={"instance": instance.name},
            )
        client = oauth_client(instance, secret)
        tokens = client.refresh(str(secret["refresh_token"]), scopes=parse_scopes(secret.get("scopes")))
        renewal = token_secret(tokens, client, flow="refresh")
        renewal.metadata.pop("flow", None)
        renewal.metadata.pop("requestedScopes", None)
        return renewal
    if kind == "google_service_account":
        return service_account.google_token(secret)
    if kind == "github_app":
        return service_account.github_app_token(secret)
    if kind == "mtls":
        raise AuthFailedError(
            "the client certificate expires or has expired: log in with a new one "
            f"(`cuervo-fabric auth login {instance.name} --cert FILE --key FILE`)",
            details={"instance": instance.name},
        )
    raise AuthFailedError(
        f"{kind} credentials cannot be refreshed: run `cuervo-fabric auth login {instance.name}`",
        details={"instance": instance.name},
    )


def revoke(instance: ConnectorInstance, secret: dict[str, Any]) -> list[str]:
    """Revoke at the provider where it supports it; the token types revoked (``[]``: nothing to do)."""
    from cuervo_fabric.auth import service_account

    kind = kind_of(instance, secret)
    if kind == "oauth2" and instance.settings.get("revocation_url"):
        client = oauth_client(instance, secret)
        done = []
        # The refresh token first: revoking it ends the grant at most providers (RFC 7009 §2.1).
        if secret.get("refresh_token"):
            client.revoke(str(secret["refresh_token"]), "refresh_token")
            done.append("refresh_token")
        if secret.get("access_token"):
            client.revoke(str(secret["access_token"]), "access_token")
            done.append("access_token")
        return done
    if kind == "github_app" and secret.get("access_token"):
        service_account.revoke_github_token(secret)
        return ["installation_token"]
    return []


def expiry_facts(expires_at: float | None, now: float) -> dict[str, Any]:
    if expires_at is None:
        return {"expiresAt": None, "expiresInS": None, "expired": False}
    return {
        "expiresAt": iso(expires_at),
        "expiresInS": int(expires_at - now),
        "expired": expires_at <= now,
    }
