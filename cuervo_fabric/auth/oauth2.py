"""The OAuth 2.0 client: authorization code + PKCE, device grant, refresh, revocation.

Public clients (no secret) are the default, as RFC 8252 expects of a CLI. A client secret, when a
provider insists on one (GitHub's web flow), is sent in the form body (``client_secret_post``) and
kept sealed with the tokens. Token endpoints are asked for JSON; GitHub's legacy form-encoded
answers are understood too.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from cuervo_fabric.errors import (
    AuthFailedError,
    FabricTimeoutError,
    InvalidInputError,
    UpstreamError,
)
from cuervo_fabric.services.credentials import Renewal

__all__ = [
    "DEVICE_GRANT",
    "DeviceAuthorization",
    "OAuthClient",
    "OAuthError",
    "Pkce",
    "TokenSet",
    "parse_scopes",
    "poll_pause",
]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
HTTP_TIMEOUT_S = 15.0
#: RFC 8628 §3.2: the polling interval when the server names none; ``slow_down`` adds 5 s.
DEFAULT_INTERVAL_S = 5.0
SLOW_DOWN_STEP_S = 5.0


class OAuthError(AuthFailedError):
    """The authorization server answered with an OAuth error (``error`` field)."""

    def __init__(self, error: str, description: str, *, endpoint: str, status: int) -> None:
        text = f"{error}: {description}" if description else error
        super().__init__(
            f"the authorization server refused ({endpoint}): {text}",
            details={"oauthError": error, "status": status},
        )
        self.error = error
        self.description = description


def parse_scopes(value: Any) -> tuple[str, ...]:
    """Scopes from a list or a string separated by spaces or commas (GitHub), in order, unique."""
    items: list[str] = []
    for part in value if isinstance(value, list | tuple) else [value or ""]:
        items.extend(str(part).replace(",", " ").split())
    return tuple(dict.fromkeys(items))


def poll_pause(seconds: float) -> None:
    """Wait between polls; with ``CUERVO_FABRIC_NO_SLEEP`` (tests) only a token 0.1 s."""
    if os.environ.get("CUERVO_FABRIC_NO_SLEEP"):
        seconds = min(seconds, 0.1)
    time.sleep(seconds)


@dataclass(frozen=True, slots=True)
class Pkce:
    """A PKCE pair (RFC 7636, S256) and the ``state`` of one authorization request."""

    verifier: str
    challenge: str
    state: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        return cls(verifier=verifier, challenge=challenge, state=secrets.token_urlsafe(24))


@dataclass(frozen=True, slots=True)
class TokenSet:
    """A token endpoint's answer."""

    access_token: str
    token_type: str
    expires_at: float | None
    refresh_token: str | None
    scopes: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class DeviceAuthorization:
    """RFC 8628 §3.2: what the user must do, and what the client polls with."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_at: float
    interval: float


@dataclass(frozen=True, slots=True)
class OAuthClient:
    """One instance's OAuth client: endpoints from its settings, scopes, optional secret."""

    client_id: str
    authorize_url: str | None = None
    token_url: str | None = None
    revocation_url: str | None = None
    device_authorization_url: str | None = None
    issuer: str | None = None
    scopes: tuple[str, ...] = ()
    client_secret: str | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Mapping[str, Any],
        *,
        scopes: Sequence[str] | None = None,
        client_secret: str | None = None,
    ) -> OAuthClient:
        client_id = str(settings.get("client_id") or "")
        if not client_id:
            raise InvalidInputError(
                "this instance has no OAuth client_id: set it with "
                "`cuervo-fabric connector update INSTANCE --set client_id=...`",
                details={"field": "client_id"},
            )

        def url(name: str) -> str | None:
            value = settings.get(name)
            return str(value) if value else None

        return cls(
            client_id=client_id,
            authorize_url=url("authorize_url"),
            token_url=url("token_url"),
            revocation_url=url("revocation_url"),
            device_authorization_url=url("device_authorization_url"),
            issuer=url("issuer"),
            scopes=tuple(scopes) if scopes else parse_scopes(settings.get("scopes")),
            client_secret=client_secret,
        )

    def need(self, *names: str) -> None:
        """``INVALID_INPUT`` naming the first missing endpoint setting."""
        for name in names:
            if not getattr(self, name):
                raise InvalidInputError(
                    f"this instance has no OAuth {name} setting: set it with "
                    f"`cuervo-fabric connector update INSTANCE --set {name}=https://...`",
                    details={"field": name},
                )

    # ------------------------------------------------------------------ HTTP plumbing
    def _client_auth(self, form: dict[str, str]) -> dict[str, str]:
        form["client_id"] = self.client_id
        if self.client_secret:
            form["client_secret"] = self.client_secret
        return form

    def post(self, url: str, form: dict[str, str], *, endpoint: str) -> tuple[int, dict[str, Any]]:
        """POST a form; ``(status, body)``. OAuth errors raise ``OAuthError``; others map to codes."""
        import httpx

        try:
            resp = httpx.post(
                url,
                data=self._client_auth(dict(form)),
                headers={"Accept": "application/json"},
                timeout=HTTP_TIMEOUT_S,
                follow_redirects=False,
            )
        except httpx.TimeoutException as exc:
            raise FabricTimeoutError(f"the {endpoint} at {_origin(url)} did not answer in time") from exc
        except httpx.TransportError as exc:
            raise UpstreamError(
                f"cannot reach the {endpoint} at {_origin(url)}: {type(exc).__name__}",
                retryable=True,
                details={"transport": type(exc).__name__},
            ) from exc
        body = _body(resp)
        if isinstance(body.get("error"), str):
            raise OAuthError(
                body["error"],
                str(body.get("error_description") or "")[:300],
                endpoint=endpoint,
                status=resp.status_code,
            )
        if resp.status_code in (400, 401, 403):
            raise AuthFailedError(
                f"the {endpoint} at {_origin(url)} refused the request ({resp.status_code})",
                details={"status": resp.status_code},
            )
        if not resp.is_success:
            raise UpstreamError(
                f"the {endpoint} at {_origin(url)} answered {resp.status_code}",
                retryable=resp.status_code >= 500 or resp.status_code == 429,
                details={"status": resp.status_code},
            )
        return resp.status_code, body

    def parse_tokens(self, body: dict[str, Any], *, previous_scopes: Sequence[str] | None = None) -> TokenSet:
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise UpstreamError("the token endpoint answered without an access_token")
        expires_in = body.get("expires_in")
        try:
            expires_at = time.time() + float(expires_in) if expires_in not in (None, "") else None
        except (TypeError, ValueError):
            expires_at = None
        refresh = body.get("refresh_token")
        granted = parse_scopes(body["scope"]) if body.get("scope") is not None else None
        if granted is None:
            # RFC 6749 §5.1: an omitted scope is the one requested (or, on refresh, the old one).
            granted = tuple(previous_scopes) if previous_scopes is not None else self.scopes
        return TokenSet(
            access_token=access,
            token_type=str(body.get("token_type") or "Bearer"),
            expires_at=expires_at,
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            scopes=granted,
        )

    # ------------------------------------------------------------------ authorization code + PKCE
    def authorization_url(self, redirect_uri: str, pkce: Pkce) -> str:
        """The URL the user's browser opens (RFC 6749 §4.1.1 with RFC 7636 S256)."""
        self.need("authorize_url", "token_url")
        assert self.authorize_url is not None
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "state": pkce.state,
            "code_challenge": pkce.challenge,
            "code_challenge_method": "S256",
        }
        if self.scopes:
            params["scope"] = " ".join(self.scopes)
        if "offline_access" in self.scopes:
            # OpenID Connect Core §11: offline_access is ignored unless consent is prompted for.
            params["prompt"] = "consent"
        sep = "&" if urlsplit(self.authorize_url).query else "?"
        return self.authorize_url + sep + urlencode(params)

    def exchange_code(self, code: str, redirect_uri: str, pkce: Pkce) -> TokenSet:
        self.need("token_url")
        assert self.token_url is not None
        _, body = self.post(
            self.token_url,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": pkce.verifier,
            },
            endpoint="token endpoint",
        )
        return self.parse_tokens(body)

    def issuer_matches(self, iss: str) -> bool:
        """RFC 9207: the ``iss`` of an authorization response names the server we asked.

        With an ``issuer`` setting it must be equal; otherwise it must be a prefix (same origin,
        leading path) of the authorization endpoint, as issuers are for the providers that send it.
        """
        if self.issuer:
            return iss.rstrip("/") == self.issuer.rstrip("/")
        if not self.authorize_url:
            return False
        want, got = urlsplit(self.authorize_url), urlsplit(iss)
        same_origin = (want.scheme, want.netloc.lower()) == (got.scheme, got.netloc.lower())
        return same_origin and want.path.startswith(got.path.rstrip("/"))

    # ------------------------------------------------------------------ device grant (RFC 8628)
    def start_device(self) -> DeviceAuthorization:
        self.need("device_authorization_url", "token_url")
        assert self.device_authorization_url is not None
        form = {"scope": " ".join(self.scopes)} if self.scopes else {}
        _, body = self.post(self.device_authorization_url, form, endpoint="device authorization endpoint")
        try:
            device_code = str(body["device_code"])
            user_code = str(body["user_code"])
            # Google's older endpoint says verification_url.
            uri = str(body.get("verification_uri") or body["verification_url"])
        except KeyError as exc:
            raise UpstreamError(f"the device authorization answer lacks {exc.args[0]}") from exc
        complete = body.get("verification_uri_complete")
        try:
            interval = float(body.get("interval") or DEFAULT_INTERVAL_S)
            expires_in = float(body.get("expires_in") or 600)
        except (TypeError, ValueError):
            interval, expires_in = DEFAULT_INTERVAL_S, 600.0
        return DeviceAuthorization(
            device_code=device_code,
            user_code=user_code,
            verification_uri=uri,
            verification_uri_complete=str(complete) if complete else None,
            expires_at=time.time() + expires_in,
            interval=max(interval, 1.0),
        )

    def poll_device(
        self,
        device: DeviceAuthorization,
        *,
        pause: Callable[[float], None] = poll_pause,
        deadline: float | None = None,
    ) -> TokenSet:
        """Poll the token endpoint until the user approves (RFC 8628 §3.4-3.5)."""
        assert self.token_url is not None
        interval = device.interval
        give_up = min(device.expires_at, deadline) if deadline is not None else device.expires_at
        while True:
            if time.time() + interval > give_up:
                raise FabricTimeoutError(
                    "the device code was not approved in time; run `auth login --device` again"
                )
            pause(interval)
            try:
                _, body = self.post(
                    self.token_url,
                    {"grant_type": DEVICE_GRANT, "device_code": device.device_code},
                    endpoint="token endpoint",
                )
            except OAuthError as exc:
                if exc.error == "authorization_pending":
                    continue
                if exc.error == "slow_down":
                    interval += SLOW_DOWN_STEP_S
                    continue
                if exc.error == "access_denied":
                    raise AuthFailedError(
                        "the sign-in was denied at the provider", details={"oauthError": exc.error}
                    ) from exc
                if exc.error == "expired_token":
                    raise AuthFailedError(
                        "the device code expired before it was approved; run `auth login --device` again",
                        details={"oauthError": exc.error},
                    ) from exc
                raise
            return self.parse_tokens(body)

    # ------------------------------------------------------------------ refresh and revocation
    def refresh(self, refresh_token: str, *, scopes: Sequence[str] | None = None) -> TokenSet:
        self.need("token_url")
        assert self.token_url is not None
        _, body = self.post(
            self.token_url,
            {"grant_type": "refresh_token", "refresh_token": refresh_token},
            endpoint="token endpoint",
        )
        tokens = self.parse_tokens(body, previous_scopes=scopes)
        if tokens.refresh_token is None:
            # RFC 6749 §6: without a new refresh token, the old one stays valid.
            tokens = TokenSet(
                tokens.access_token, tokens.token_type, tokens.expires_at, refresh_token, tokens.scopes
            )
        return tokens

    def revoke(self, token: str, hint: str) -> None:
        """RFC 7009: invalidate ``token`` at the provider (unknown tokens count as revoked)."""
        self.need("revocation_url")
        assert self.revocation_url is not None
        self.post(
            self.revocation_url,
            {"token": token, "token_type_hint": hint},
            endpoint="revocation endpoint",
        )


def token_secret(tokens: TokenSet, client: OAuthClient, *, flow: str) -> Renewal:
    """The sealed payload, expiry and clear metadata of an OAuth token set."""
    secret: dict[str, Any] = {
        "kind": "oauth2",
        "access_token": tokens.access_token,
        "token_type": tokens.token_type,
        "scopes": list(tokens.scopes or ()),
    }
    if tokens.refresh_token:
        secret["refresh_token"] = tokens.refresh_token
    if client.client_secret:
        secret["client_secret"] = client.client_secret
    metadata = {
        "kind": "oauth2",
        "flow": flow,
        "scopes": list(tokens.scopes or ()),
        "requestedScopes": list(client.scopes),
        "refreshable": tokens.refresh_token is not None,
        "tokenType": tokens.token_type,
    }
    return Renewal(secret=secret, expires_at=tokens.expires_at, metadata=metadata)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _body(resp: Any) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        text = resp.text
        data = dict(parse_qsl(text)) if "=" in text and "<" not in text else {}
    return data if isinstance(data, dict) else {}
