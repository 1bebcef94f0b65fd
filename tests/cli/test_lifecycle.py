"""Every transition of the seed's lifecycle diagram, through the CLI, including refused ones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cuervo_fabric.errors import EXIT_CODES
from cuervo_fabric.testing import LoopbackServer, Reply
from tests.helpers import cli, db_snapshot, instance_row


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        srv.route("GET", "/health", Reply(200, {"ok": True}))
        yield srv


def install(server: LoopbackServer, name: str, *extra: str) -> dict:
    res = cli(
        "--json",
        "connector",
        "install",
        "http",
        "--name",
        name,
        "--set",
        f"base_url={server.url}",
        "--set",
        "health_path=/health",
        *extra,
    )
    assert res.exit_code == 0, res.stdout + res.stderr
    return res.json()


def status(name: str) -> str:
    res = cli("--json", "connector", "show", name)
    assert res.exit_code == 0, res.stdout
    return str(res.json()["status"])


def active(server: LoopbackServer, name: str) -> dict:
    inst = install(server, name)
    assert cli("auth", "login", name).exit_code == 0
    assert status(name) == "active"
    return inst


def assert_refused(home: Path, *args: str, code: str = "INVALID_STATE") -> None:
    before = db_snapshot(home)
    res = cli("--json", *args)
    assert res.exit_code == EXIT_CODES[code], res.stdout + res.stderr
    assert res.error["code"] == code
    assert db_snapshot(home) == before, "a refused command changed the store"


def test_install_creates_an_installed_instance(server: LoopbackServer) -> None:
    """install -> installed, with validated settings and defaults applied."""
    inst = install(server, "api")
    assert inst["status"] == "installed"
    assert inst["settings"]["auth_type"] == "none"
    assert inst["settings"]["base_url"] == server.url


def test_auth_login_goes_through_authenticating_to_active(server: LoopbackServer, home: Path) -> None:
    """installed -> authenticating -> active for an instance that needs no credential."""
    install(server, "api")
    res = cli("--json", "auth", "login", "api")
    assert res.exit_code == 0, res.stderr
    assert res.json()["status"] == "active"
    assert instance_row(home, "api")["status"] == "active"


def test_failed_authentication_moves_to_error(server: LoopbackServer, home: Path) -> None:
    """authenticating -> error when the provider rejects the credential; login again recovers."""
    server.route("GET", "/health", Reply(401, {"message": "Bad credentials"}))
    install(server, "api", "--set", "auth_type=bearer_token")
    res = cli("--json", "auth", "login", "api", "--with-token", input="wrong-token\n")
    assert res.error["code"] == "AUTH_FAILED"
    assert res.exit_code == EXIT_CODES["AUTH_FAILED"]
    row = instance_row(home, "api")
    assert row["status"] == "error"
    assert "rejected" in row["last_error"]
    # error -> authenticating -> active
    server.route("GET", "/health", Reply(200, {"ok": True}))
    assert cli("auth", "login", "api", "--with-token", input="good-token\n").exit_code == 0
    assert status("api") == "active"


def test_pause_and_resume(server: LoopbackServer) -> None:
    """active -> paused -> active."""
    active(server, "api")
    res = cli("--json", "connector", "pause", "api", "--reason", "maintenance")
    assert res.json()["status"] == "paused"
    assert res.json()["statusReason"] == "maintenance"
    assert cli("--json", "connector", "resume", "api").json()["status"] == "active"


def test_health_moves_between_active_degraded_and_error(server: LoopbackServer) -> None:
    """active -> degraded (429) -> active -> error (5xx) -> active, recorded as last health."""
    active(server, "api")
    server.route("GET", "/health", Reply(429, {"message": "slow down"}, {"Retry-After": "0"}))
    res = cli("--json", "health", "api")
    assert res.json()["status"] == "degraded"
    assert status("api") == "degraded"
    server.route("GET", "/health", Reply(200, {"ok": True}))
    assert cli("--json", "health", "api").json()["status"] == "healthy"
    assert status("api") == "active"
    server.route("GET", "/health", Reply(500, {"message": "boom"}))
    res = cli("--json", "health", "api")
    assert res.exit_code != 0
    assert res.json()["status"] == "unhealthy"
    assert status("api") == "error"
    server.route("GET", "/health", Reply(200, {"ok": True}))
    cli("health", "api")
    shown = cli("--json", "connector", "show", "api").json()
    assert shown["status"] == "active"
    assert shown["lastHealthStatus"] == "healthy"


def test_degraded_instance_can_be_paused(server: LoopbackServer) -> None:
    """degraded -> paused is allowed (a manual pause of a struggling instance)."""
    active(server, "api")
    server.route("GET", "/health", Reply(429))
    cli("health", "api")
    assert cli("--json", "connector", "pause", "api").json()["status"] == "paused"


@pytest.mark.parametrize("state", ["installed", "active", "paused", "error", "degraded"])
def test_uninstall_from_any_live_state(server: LoopbackServer, home: Path, state: str) -> None:
    """any live state -> uninstalling -> uninstalled, and the instance's credential is removed."""
    install(server, "api", "--set", "auth_type=bearer_token")
    if state != "installed":
        assert cli("auth", "login", "api", "--with-token", input="tok-123456\n").exit_code == 0
    if state == "paused":
        cli("connector", "pause", "api")
    if state in ("error", "degraded"):
        server.route("GET", "/health", Reply(500 if state == "error" else 429))
        cli("health", "api")
    assert status("api") == state
    res = cli("--json", "connector", "uninstall", "api", "--yes")
    assert res.exit_code == 0, res.stdout
    assert res.json()["status"] == "uninstalled"
    snap = db_snapshot(home)
    assert "connector_credentials" not in snap
    assert instance_row(home, "api")["config"] == "{}"


def test_uninstall_needs_confirmation_without_a_tty(server: LoopbackServer, home: Path) -> None:
    """Without --yes and without a terminal, uninstall refuses and changes nothing."""
    active(server, "api")
    assert_refused(home, "connector", "uninstall", "api", code="INVALID_INPUT")


def test_refused_transitions_change_nothing(server: LoopbackServer, home: Path) -> None:
    """Transitions the machine forbids fail with INVALID_STATE and leave every row as it was."""
    install(server, "fresh")
    assert_refused(home, "connector", "pause", "fresh")  # installed -> paused
    assert_refused(home, "connector", "resume", "fresh")  # installed -> active
    active(server, "live")
    assert_refused(home, "connector", "resume", "live")  # active -> active
    cli("connector", "pause", "live")
    assert_refused(home, "connector", "pause", "live")  # paused -> paused
    assert_refused(home, "auth", "login", "live")  # paused -> authenticating
    # A paused instance makes no calls (the refusal itself is audited, so rows may grow).
    res = cli("--json", "exec", "live", "request", "-p", "path=/health")
    assert res.json()["error"]["code"] == "INVALID_STATE"
    assert res.exit_code == EXIT_CODES["INVALID_STATE"]
    assert server.calls("GET", "/health") == []


def test_uninstalled_instance_accepts_no_transition(server: LoopbackServer, home: Path) -> None:
    """uninstalled is final: every verb on it is refused by id and changes nothing."""
    inst = active(server, "gone")
    cli("connector", "uninstall", "gone", "--yes")
    ref = inst["instanceId"]
    for args in (
        ("connector", "pause", ref),
        ("connector", "resume", ref),
        ("connector", "uninstall", ref, "--yes"),
        ("connector", "update", ref, "--set", "health_path=/x"),
        ("connector", "upgrade", ref),
        ("auth", "login", ref),
    ):
        assert_refused(home, *args)
    # The name is free again.
    install(server, "gone")


def test_upgrade_runs_to_a_registered_version(home: Path) -> None:
    """upgrade moves an instance to another registered version; unknown versions are refused."""
    res = cli("--json", "connector", "install", "github", "--name", "gh", "--version", "2.2.0")
    assert res.exit_code == 0, res.stdout
    assert res.json()["version"] == "2.2.0"
    assert_refused(home, "connector", "upgrade", "gh", "--to", "9.9.9", code="INVALID_INPUT")
    res = cli("--json", "connector", "upgrade", "gh")
    assert res.exit_code == 0, res.stdout
    assert res.json()["version"] == "2.3.0"
    assert_refused(home, "connector", "upgrade", "gh", code="INVALID_INPUT")  # already there


def test_update_validates_and_applies(server: LoopbackServer, home: Path) -> None:
    """update changes settings, name and limits after validation; a bad update writes nothing."""
    install(server, "api")
    res = cli(
        "--json",
        "connector",
        "update",
        "api",
        "--set",
        "health_path=/ok",
        "--requests-per-minute",
        "30",
        "--name",
        "api2",
    )
    assert res.exit_code == 0, res.stdout
    body = res.json()
    assert body["name"] == "api2"
    assert body["settings"]["health_path"] == "/ok"
    assert body["rateLimits"]["requestsPerMinute"] == 30
    assert_refused(home, "connector", "update", "api2", "--set", "base_url=ftp://x", code="INVALID_INPUT")
    assert_refused(home, "connector", "update", "api2", "--set", "auth_type=basic_auth", code="INVALID_INPUT")


def test_several_instances_of_one_connector(server: LoopbackServer) -> None:
    """A tenant may install one connector many times; default names stay unique."""
    first = cli("--json", "connector", "install", "http", "--set", f"base_url={server.url}").json()
    second = cli("--json", "connector", "install", "http", "--set", f"base_url={server.url}").json()
    assert (first["name"], second["name"]) == ("http", "http-2")
    names = [i["name"] for i in cli("--json", "connector", "list").json()]
    assert names == ["http", "http-2"]


def test_uninstall_deregisters_the_webhook_endpoint(home: Path) -> None:
    """After uninstall, the instance's inbound webhook endpoint row is gone."""
    assert cli("connector", "install", "github", "--name", "gh").exit_code == 0
    assert cli("--json", "webhooks", "endpoints", "gh").exit_code == 0
    assert "webhook_endpoints" in db_snapshot(home)
    assert cli("connector", "uninstall", "gh", "--yes").exit_code == 0
    assert "webhook_endpoints" not in db_snapshot(home)
