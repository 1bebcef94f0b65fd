"""Service accounts: Google-style JWT bearer assertions and GitHub App installation tokens.

Both keep a private key sealed in the vault and mint short-lived access tokens from it, so
"refresh" means "sign a new assertion and exchange it again":

* **Google-style** (``--service-account key.json`` with ``"type": "service_account"``): a JWT signed
  with RS256 (``iss`` = ``client_email``, ``aud`` = ``token_uri``, ``scope``, one hour) exchanged
  at ``token_uri`` with the ``urn:ietf:params:oauth:grant-type:jwt-bearer`` grant (RFC 7523).
* **GitHub App** (``--service-account app.pem``, or a JSON with ``app_id`` and ``private_key``): a
  JWT (``iss`` = app id, 10 minutes at most) exchanged at
  ``POST {base_url}/app/installations/{installation_id}/access_tokens`` for a one-hour token.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from cuervo_fabric.auth._keys import jwt_rs256, normalise_private_key
from cuervo_fabric.auth.oauth2 import HTTP_TIMEOUT_S, OAuthClient, parse_scopes
from cuervo_fabric.domain.timeutil import parse_iso
from cuervo_fabric.errors import (
    AuthFailedError,
    FabricTimeoutError,
    InvalidInputError,
    UpstreamError,
)
from cuervo_fabric.services.credentials import Renewal

__all__ = [
    "GITHUB_API_VERSION",
    "JWT_BEARER_GRANT",
    "github_app_token",
    "google_token",
    "parse_service_account",
    "revoke_github_token",
]

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a public URL, not a secret
GITHUB_API_VERSION = "2022-11-28"
DEFAULT_GITHUB_API = "https://api.github.com"


def parse_service_account(
    data: bytes, settings: Mapping[str, Any], *, scopes: Sequence[str] | None = None
) -> dict[str, Any]:
    """The sealed payload (without a token yet) of a service-account file, by its format."""
    text = data.decode("utf-8", "replace").strip()
    if text.startswith("-----BEGIN"):
        return _github_app_secret({"private_key": text}, settings)
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InvalidInputError(
            "the service-account file is neither JSON (a Google-style key file, or a GitHub App "
            "with app_id and private_key) nor a PEM private key (a GitHub App key)",
            details={"field": "service-account"},
        ) from exc
    if not isinstance(doc, dict):
        raise InvalidInputError(
            "the service-account JSON must be an object", details={"field": "service-account"}
        )
    if doc.get("type") == "service_account":
        missing = [k for k in ("client_email", "private_key") if not doc.get(k)]
        if missing:
            raise InvalidInputError(
                f"the service-account JSON lacks {', '.join(missing)}", details={"field": "service-account"}
            )
        token_uri = str(doc.get("token_uri") or settings.get("token_url") or GOOGLE_TOKEN_URI)
        chosen = tuple(scopes) if scopes else parse_scopes(settings.get("scopes"))
        return {
            "kind": "google_service_account",
            "client_email": str(doc["client_email"]),
            "private_key": normalise_private_key(str(doc["private_key"]), what="service-account key"),
            "private_key_id": str(doc.get("private_key_id") or ""),
            "token_uri": token_uri,
            "scopes": list(chosen),
            "subject": str(doc.get("subject") or ""),
        }
    if doc.get("private_key") and (doc.get("app_id") or settings.get("app_id")):
        return _github_app_secret(doc, settings)
    raise InvalidInputError(
        'unsupported service-account JSON: expected "type": "service_account" (Google-style) '
        "or a GitHub App with app_id and private_key",
        details={"field": "service-account"},
    )


def _github_app_secret(doc: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    app_id = str(doc.get("app_id") or settings.get("app_id") or "")
    installation = str(doc.get("installation_id") or settings.get("installation_id") or "")
    if not app_id or not installation:
        raise InvalidInputError(
            "a GitHub App key needs the instance's app_id and installation_id settings: "
            "`cuervo-fabric connector update INSTANCE --set app_id=... --set installation_id=...`",
            details={"field": "app_id" if not app_id else "installation_id"},
        )
    return {
        "kind": "github_app",
        "app_id": app_id,
        "installation_id": installation,
        "private_key": normalise_private_key(str(doc["private_key"]), what="GitHub App key"),
        "api_url": str(settings.get("base_url") or DEFAULT_GITHUB_API).rstrip("/"),
    }


def _http_post(url: str, *, what: str, **kwargs: Any) -> Any:
    import httpx

    try:
        return httpx.post(url, timeout=HTTP_TIMEOUT_S, follow_redirects=False, **kwargs)
    except httpx.TimeoutException as exc:
        raise FabricTimeoutError(f"the {what} did not answer in time") from exc
    except httpx.TransportError as exc:
        raise UpstreamError(f"cannot reach the {what}: {type(exc).__name__}", retryable=True) from exc


def google_token(secret: dict[str, Any]) -> Renewal:
    """Sign a fresh assertion and exchange it for an access token (RFC 7523 §2.1)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": secret["client_email"],
        "aud": secret["token_uri"],
        "iat": now,
        "exp": now + 3600,
    }
    if secret.get("scopes"):
        claims["scope"] = " ".join(secret["scopes"])
    if secret.get("subject"):
        claims["sub"] = secret["subject"]
    assertion = jwt_rs256(claims, secret["private_key"], kid=secret.get("private_key_id") or None)
    client = OAuthClient(client_id="", token_url=secret["token_uri"])
    _, body = client.post(
        secret["token_uri"],
        {"grant_type": JWT_BEARER_GRANT, "assertion": assertion},
        endpoint="service-account token endpoint",
    )
    tokens = client.parse_tokens(body, previous_scopes=secret.get("scopes") or ())
    renewed = {**secret, "access_token": tokens.access_token}
    return Renewal(
        secret=renewed,
        expires_at=tokens.expires_at,
        metadata={
            "kind": "google_service_account",
            "clientEmail": secret["client_email"],
            "scopes": list(tokens.scopes or ()),
            "refreshable": True,
        },
    )


def _github_headers(bearer: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {bearer}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": GITHUB_API_VERSION,
    }


def github_app_token(secret: dict[str, Any]) -> Renewal:
    """Mint an app JWT and exchange it for an installation access token."""
    now = int(time.time())
    # GitHub: iat 60 s in the past against clock drift; exp at most 10 minutes ahead.
    app_jwt = jwt_rs256({"iat": now - 60, "exp": now + 540, "iss": secret["app_id"]}, secret["private_key"])
    url = f"{secret['api_url']}/app/installations/{secret['installation_id']}/access_tokens"
    resp = _http_post(url, what="GitHub App token endpoint", headers=_github_headers(app_jwt))
    if resp.status_code in (401, 403, 404):
        raise AuthFailedError(
            f"GitHub refused the app's installation token request ({resp.status_code}): "
            f"{_message(resp)}; check app_id, installation_id and the private key",
            details={"status": resp.status_code},
        )
    if not resp.is_success:
        raise UpstreamError(
            f"the GitHub App token endpoint answered {resp.status_code}: {_message(resp)}",
            retryable=resp.status_code >= 500,
            details={"status": resp.status_code},
        )
    try:
        body = resp.json()
        token = str(body["token"])
        expires_at = parse_iso(str(body["expires_at"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise UpstreamError("the GitHub App token answer lacks token or expires_at") from exc
    return Renewal(
        secret={**secret, "access_token": token},
        expires_at=expires_at,
        metadata={
            "kind": "github_app",
            "appId": secret["app_id"],
            "installationId": secret["installation_id"],
            "permissions": body.get("permissions") or {},
            "refreshable": True,
        },
    )


def revoke_github_token(secret: dict[str, Any]) -> None:
    """``DELETE /installation/token``: GitHub's revocation of an installation token."""
    import httpx

    token = secret.get("access_token")
    if not token:
        return
    try:
        resp = httpx.delete(
            f"{secret['api_url']}/installation/token",
            headers=_github_headers(str(token)),
            timeout=HTTP_TIMEOUT_S,
        )
    except httpx.HTTPError as exc:
        raise UpstreamError(f"cannot reach GitHub to revoke the token: {type(exc).__name__}") from exc
    if resp.status_code not in (204, 401):
        raise UpstreamError(f"GitHub answered {resp.status_code} to the token revocation")


def _message(resp: Any) -> str:
    try:
        body = resp.json()
    except ValueError:
        return str(resp.text)[:200]
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])[:200]
    return str(body)[:200]
