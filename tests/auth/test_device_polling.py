"""RFC 8628 polling against a scripted token endpoint: interval, slow_down and the final errors."""

from __future__ import annotations

import pytest

from cuervo_fabric.auth.oauth2 import OAuthClient
from cuervo_fabric.errors import AuthFailedError
from cuervo_fabric.testing import LoopbackServer, Reply


def _client(server: LoopbackServer) -> OAuthClient:
    return OAuthClient(
        client_id="cli",
        token_url=server.url + "/token",
        device_authorization_url=server.url + "/device",
        scopes=("repo",),
    )


def _device(server: LoopbackServer, **extra: object) -> None:
    server.route(
        "POST",
        "/device",
        Reply(
            200,
            {
                "device_code": "dev-code-1",
                "user_code": "WDJB-MJHT",
                "verification_uri": server.url + "/activate",
                "expires_in": 900,
                **extra,
            },
        ),
    )


def test_polling_waits_the_default_interval_and_backs_off_on_slow_down() -> None:
    """No interval given: 5 s between polls; each slow_down adds 5 s (RFC 8628 §3.5)."""
    with LoopbackServer() as server:
        _device(server)
        server.route(
            "POST",
            "/token",
            [
                Reply(400, {"error": "authorization_pending"}),
                Reply(400, {"error": "slow_down"}),
                Reply(400, {"error": "authorization_pending"}),
                Reply(400, {"error": "slow_down"}),
                Reply(
                    200, {"access_token": "at-1", "token_type": "bearer", "expires_in": 60, "scope": "repo"}
                ),
            ],
        )
        client = _client(server)
        device = client.start_device()
        waits: list[float] = []
        tokens = client.poll_device(device, pause=waits.append)
        assert waits == [5.0, 5.0, 10.0, 10.0, 15.0]
        assert tokens.access_token == "at-1"
        assert tokens.scopes == ("repo",)
        polls = server.calls("POST", "/token")
        assert {p.body.decode() for p in polls} == {
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=dev-code-1&client_id=cli"
        }
        assert server.calls("POST", "/device")[0].body.decode() == "scope=repo&client_id=cli"


def test_polling_uses_the_servers_interval_and_githubs_200_errors() -> None:
    """The server's interval wins; an error in a 200 answer (GitHub's style) is still an error."""
    with LoopbackServer() as server:
        _device(server, interval=7)
        server.route(
            "POST",
            "/token",
            [
                Reply(200, {"error": "authorization_pending"}),
                Reply(200, {"access_token": "gho_x", "token_type": "bearer", "scope": "repo,workflow"}),
            ],
        )
        client = _client(server)
        waits: list[float] = []
        tokens = client.poll_device(client.start_device(), pause=waits.append)
        assert waits == [7.0, 7.0]
        assert tokens.scopes == ("repo", "workflow")
        assert tokens.expires_at is None


@pytest.mark.parametrize(("error", "words"), [("access_denied", "denied"), ("expired_token", "expired")])
def test_denied_or_expired_codes_end_the_login(error: str, words: str) -> None:
    """access_denied and expired_token stop polling with AUTH_FAILED."""
    with LoopbackServer() as server:
        _device(server)
        server.route("POST", "/token", Reply(400, {"error": error}))
        client = _client(server)
        with pytest.raises(AuthFailedError, match=words):
            client.poll_device(client.start_device(), pause=lambda s: None)
