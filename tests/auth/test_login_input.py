"""``auth login`` refuses bad input before changing anything, and reports scopes against needs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cuervo_fabric.testing import LoopbackServer, Reply
from tests.auth.conftest import install
from tests.helpers import cli, instance_row


def _bearer(name: str = "api", url: str = "http://127.0.0.1:9") -> None:
    install("http", "--name", name, "--set", f"base_url={url}", "--set", "auth_type=bearer_token")


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--api-key"], "auth"),
        (["--device"], "auth"),
        (["--with-token", "--api-key"], "auth"),
        (["--no-browser"], "no-browser"),
        (["--scopes", "repo"], "scopes"),
        (["--cert", "x.pem"], "auth"),
    ],
)
def test_flags_that_do_not_fit_the_auth_type_change_nothing(home: Path, args: list[str], field: str) -> None:
    """A flag for another auth type is INVALID_INPUT naming it; the instance is untouched."""
    _bearer()
    before = instance_row(home, "api")
    result = cli("--json", "auth", "login", "api", *args, input="tok\n")
    assert result.exit_code == 2
    assert result.error["field"] == field
    assert instance_row(home, "api") == before


def test_an_oauth_instance_without_its_endpoints_is_refused_up_front(home: Path) -> None:
    """Missing client_id, or a device flow without device_authorization_url: INVALID_INPUT, no change."""
    install("http", "--name", "o", "--set", "base_url=http://127.0.0.1:9", "--set", "auth_type=oauth2")
    before = instance_row(home, "o")
    result = cli("--json", "auth", "login", "o", "--web")
    assert (result.exit_code, result.error["field"]) == (2, "client_id")
    cli("connector", "update", "o", "--set", "client_id=c", "--set", "token_url=http://127.0.0.1:9/t")
    result = cli("--json", "auth", "login", "o", "--device")
    assert (result.exit_code, result.error["field"]) == (2, "device_authorization_url")
    assert instance_row(home, "o")["status"] == before["status"]


def test_a_login_nobody_completes_times_out_and_marks_the_instance(home: Path) -> None:
    """--timeout without a callback: TIMEOUT, the instance in error with the reason."""
    with LoopbackServer() as idp:
        idp.route("GET", "/authorize", Reply(200, "sign in here"))
        install("http", "--name", "o", "--set", "base_url=http://127.0.0.1:9", "--set", "auth_type=oauth2",
                "--set", "client_id=c", "--set", f"authorize_url={idp.url}/authorize",
                "--set", f"token_url={idp.url}/token")  # fmt: skip
        result = cli("--json", "auth", "login", "o", "--no-browser", "--timeout", "1")
    assert result.exit_code == 12
    assert result.error["code"] == "TIMEOUT"
    assert f"{idp.url}/authorize?response_type=code&client_id=c" in result.stderr
    row = instance_row(home, "o")
    assert (row["status"], row["status_reason"]) == ("error", result.error["message"])


def test_a_login_left_half_way_can_be_redone(home: Path) -> None:
    """An instance stuck in authenticating (a killed login) accepts a new login."""
    with LoopbackServer() as api:
        api.route("GET", "/", Reply(200, {}))
        _bearer(url=api.url)
        conn = sqlite3.connect(home / "fabric.db")
        conn.execute("UPDATE connector_instances SET status = 'authenticating'")
        conn.commit()
        conn.close()
        result = cli("--json", "auth", "login", "api", "--with-token", input="tok\n")
    assert result.exit_code == 0, result.stdout
    assert instance_row(home, "api")["status"] == "active"


def test_static_credentials_cannot_be_refreshed(home: Path) -> None:
    """auth refresh on an API token: INVALID_INPUT, and it says what to do instead."""
    _bearer()
    cli("auth", "login", "api", "--with-token", "--no-verify", input="tok\n")
    result = cli("--json", "auth", "refresh", "api")
    assert result.exit_code == 2
    assert "auth login" in result.error["message"]


def test_status_compares_granted_scopes_with_what_capabilities_need(home: Path) -> None:
    """OAuth scopes are checked against the union of the granted capabilities' required scopes."""
    install("github", "--name", "gh", "--set", "auth_type=oauth2", "--set", "client_id=c")
    cli("auth", "login", "gh", "--with-token", "--no-verify", "--scopes", "repo", input="gho_x\n")
    row = cli("--json", "auth", "status", "gh").json()
    assert row["scopes"] == ["repo"]
    assert "repo" in row["requiredScopes"]
    assert row["missingScopes"] == sorted(set(row["requiredScopes"]) - {"repo"})
    assert row["scopesCover"] is (not row["missingScopes"])
    cli("auth", "login", "gh", "--with-token", "--no-verify", "--scopes", ",".join(row["requiredScopes"]),
        input="gho_y\n")  # fmt: skip
    assert cli("--json", "auth", "status", "gh").json()["scopesCover"] is True
    human = cli("auth", "status")
    assert "gh" in human.stdout
