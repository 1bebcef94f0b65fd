"""The login flows ``auth login`` runs, one method per way of obtaining a credential.

Each returns a ``Renewal`` (sealed payload, expiry, clear metadata) for the credential service to
store; none of them stores anything itself, and none prints a secret: ``notify`` (stderr) only ever
gets URLs, user codes and progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from cuervo_fabric.auth.browser import can_open_browser, open_browser
from cuervo_fabric.auth.loopback import CallbackServer
from cuervo_fabric.auth.oauth2 import OAuthClient, Pkce, TokenSet, poll_pause, token_secret
from cuervo_fabric.domain.models import ConnectorInstance
from cuervo_fabric.services.credentials import Renewal

__all__ = ["LoginFlows"]

DEFAULT_TIMEOUT_S = 300.0


class LoginFlows:
    """Interactive and file-based logins.

    Args:
        notify: shows a line to the person logging in (stderr).
        open_url: opens a URL in a browser; ``True`` when one started.
        pause: waits between device-flow polls.
    """

    def __init__(
        self,
        *,
        notify: Callable[[str], None],
        open_url: Callable[[str], bool] = open_browser,
        pause: Callable[[float], None] = poll_pause,
    ) -> None:
        self.notify = notify
        self.open_url = open_url
        self.pause = pause

    # ------------------------------------------------------------------ OAuth
    @staticmethod
    def oauth_client(
        instance: ConnectorInstance,
        *,
        device: bool,
        scopes: Sequence[str] | None = None,
        client_secret: str | None = None,
    ) -> OAuthClient:
        """The instance's OAuth client, with the endpoints the chosen flow needs checked."""
        client = OAuthClient.from_settings(instance.settings, scopes=scopes, client_secret=client_secret)
        if device:
            client.need("device_authorization_url", "token_url")
        else:
            client.need("authorize_url", "token_url")
        return client

    @staticmethod
    def browser_available() -> bool:
        return can_open_browser()

    def oauth_web(
        self,
        instance: ConnectorInstance,
        client: OAuthClient,
        *,
        browser: bool = True,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> Renewal:
        """Authorization code + PKCE through a loopback redirect (RFC 8252)."""
        pkce = Pkce.new()
        server: CallbackServer[TokenSet]

        def exchange(code: str) -> TokenSet:
            return client.exchange_code(code, server.redirect_uri, pkce)

        server = CallbackServer(state=pkce.state, issuer_ok=client.issuer_matches, exchange=exchange)
        with server:  # bound (and listening) before the URL exists
            url = client.authorization_url(server.redirect_uri, pkce)
            self.notify(f"To sign in {instance.name}, open this URL in a browser:\n\n  {url}\n")
            if browser and self.open_url(url):
                self.notify("Opened a browser; waiting for the sign-in to finish ...")
            elif browser:
                self.notify("Could not open a browser: open the URL above. Waiting for the sign-in ...")
            else:
                self.notify("Waiting for the sign-in ...")
            tokens = server.wait(timeout_s)
        return token_secret(tokens, client, flow="web")

    def oauth_device(
        self,
        instance: ConnectorInstance,
        client: OAuthClient,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S * 2,
    ) -> Renewal:
        """The device authorization grant (RFC 8628): approve on any other device."""
        device = client.start_device()
        where = device.verification_uri_complete or device.verification_uri
        self.notify(
            f"To sign in {instance.name}, open {device.verification_uri} on any device "
            f"and enter the code:\n\n  {device.user_code}\n"
            + (f"\n(or open {where} directly)\n" if device.verification_uri_complete else "")
        )
        self.notify("Waiting for the approval ...")
        tokens = client.poll_device(device, pause=self.pause, deadline=time.time() + timeout_s)
        return token_secret(tokens, client, flow="device")

    @staticmethod
    def oauth_token(token: str, client_scopes: Sequence[str] = ()) -> Renewal:
        """An access token obtained elsewhere (``--with-token`` on an OAuth instance)."""
        return Renewal(
            secret={
                "kind": "oauth2",
                "access_token": token,
                "token_type": "Bearer",
                "scopes": list(client_scopes),
            },
            expires_at=None,
            metadata={"kind": "oauth2", "flow": "token", "scopes": list(client_scopes), "refreshable": False},
        )

    # ------------------------------------------------------------------ service accounts and mTLS
    @staticmethod
    def parse_service_account(
        instance: ConnectorInstance, data: bytes, *, scopes: Sequence[str] | None = None
    ) -> dict[str, Any]:
        from cuervo_fabric.auth.service_account import parse_service_account

        return parse_service_account(data, instance.settings, scopes=scopes)

    @staticmethod
    def service_account(secret: dict[str, Any]) -> Renewal:
        """Mint the first access token from a parsed service account."""
        from cuervo_fabric.auth.service_account import github_app_token, google_token

        if secret["kind"] == "github_app":
            return github_app_token(secret)
        return google_token(secret)

    @staticmethod
    def client_certificate(cert: bytes, key: bytes, *, password: bytes | None = None) -> Renewal:
        from cuervo_fabric.auth.mtls import client_certificate

        return client_certificate(cert, key, password=password)
