"""circuit and ratelimit commands: force open/close, per-instance settings, tenant-wide limits."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cuervo_fabric.domain.gateway import CIRCUIT_BREAKER_DEFAULTS, CircuitConfig
from cuervo_fabric.domain.models import ConnectorCategory
from cuervo_fabric.testing import LoopbackServer, Reply
from tests.gateway.conftest import install
from tests.helpers import cli, db_snapshot


def test_every_category_has_valid_breaker_defaults() -> None:
    """The seed's three categories keep their numbers; every other category has defaults too."""
    assert set(CIRCUIT_BREAKER_DEFAULTS) == set(ConnectorCategory)
    for config in CIRCUIT_BREAKER_DEFAULTS.values():
        config.validate()
    assert CIRCUIT_BREAKER_DEFAULTS[ConnectorCategory.SOURCE_CONTROL] == CircuitConfig(5, 3, 30_000, 3)
    assert CIRCUIT_BREAKER_DEFAULTS[ConnectorCategory.MODEL_PROVIDER] == CircuitConfig(3, 2, 15_000, 1)
    assert CIRCUIT_BREAKER_DEFAULTS[ConnectorCategory.COMMUNICATION] == CircuitConfig(10, 3, 60_000, 5)


def test_forced_open_refuses_without_calling_out(home: Path, server: LoopbackServer) -> None:
    """circuit open --for/--reason: exec fails with CIRCUIT_OPEN and nothing is sent; close undoes it."""
    server.route("GET", "/x", Reply(200, {}))
    install("api", server.url)
    opened = cli(
        "--json", "circuit", "open", "api", "--for", "600", "--reason", "provider maintenance"
    ).json()
    assert (opened["state"], opened["forced"]) == ("open", True)
    assert opened["reason"] == "forced open: provider maintenance"
    res = cli("--json", "exec", "api", "request", "-p", "path=/x")
    err = res.json()["error"]
    assert res.exit_code == 10
    assert err["code"] == "CIRCUIT_OPEN"
    assert 590_000 < err["retryAfterMs"] <= 600_001
    assert "provider maintenance" in err["message"]
    assert server.calls("GET", "/x") == []
    row = cli("--json", "connector", "show", "api").json()
    assert row["instanceId"]
    assert cli("--json", "circuit", "close", "api").json()["state"] == "closed"
    assert cli("exec", "api", "request", "-p", "path=/x").exit_code == 0


def test_open_until_closed_by_hand(home: Path, server: LoopbackServer) -> None:
    """Without --for the breaker stays open and the error says how to close it."""
    install("api", server.url)
    assert cli("circuit", "open", "api").exit_code == 0
    err = cli("--json", "exec", "api", "request", "-p", "path=/x").json()["error"]
    assert err["code"] == "CIRCUIT_OPEN"
    assert "retryAfterMs" not in err
    assert "circuit close api" in err["message"]


def test_configure_validates_before_storing(home: Path, server: LoopbackServer) -> None:
    """Bad breaker settings are INVALID_INPUT and change nothing; --reset restores the defaults."""
    install("api", server.url)
    before = db_snapshot(home)
    for args in (["--failure-threshold", "0"], ["--timeout", "0"], ["--half-open-max", "0"], []):
        res = cli("--json", "circuit", "configure", "api", *args)
        assert res.exit_code == 2, args
        assert res.error["code"] == "INVALID_INPUT"
    assert db_snapshot(home) == before
    view = cli(
        "--json", "circuit", "configure", "api", "--failure-threshold", "7", "--success-threshold", "4"
    ).json()
    assert view["config"]["failureThreshold"] == 7
    assert view["overrides"] == {
        "failure_threshold": 7,
        "success_threshold": 4,
    }
    # successThreshold above halfOpenMaxRequests is fine: probes are sequential leases.
    assert view["config"]["halfOpenMaxRequests"] == 2
    view = cli("--json", "circuit", "configure", "api", "--reset").json()
    assert view["overrides"] == {}
    assert view["config"]["failureThreshold"] == 5


def test_tenant_limits_apply_to_every_instance(home: Path, server: LoopbackServer) -> None:
    """ratelimit set stores tenant-wide limits; the tenant bucket refuses with limitType tenant."""
    server.route("GET", "/x", Reply(200, {}))
    install("a", server.url)
    install("b", server.url)
    assert (
        cli("--json", "ratelimit", "set", "--requests-per-minute", "3").json()["limits"]["requestsPerMinute"]
        == 3
    )
    assert cli("exec", "a", "request", "-p", "path=/x").exit_code == 0
    assert cli("exec", "b", "request", "-p", "path=/x").exit_code == 0
    assert cli("exec", "a", "request", "-p", "path=/x").exit_code == 0
    res = cli("--json", "exec", "b", "request", "-p", "path=/x")
    assert res.json()["error"]["limitType"] == "tenant"
    status = cli("--json", "ratelimit", "status").json()
    assert status["tenantBuckets"][0]["remaining"] == 0
    assert cli("--json", "--tenant", "other", "ratelimit", "status").json()["tenantBuckets"] == []
    assert cli("--json", "ratelimit", "set").exit_code == 2
    assert cli("--json", "ratelimit", "set", "--requests-per-minute", "-1").exit_code == 2
    assert cli("ratelimit", "set", "--requests-per-minute", "0").exit_code == 0
    assert cli("exec", "b", "request", "-p", "path=/x").exit_code == 0


def test_weights_and_concurrency(home: Path, server: LoopbackServer) -> None:
    """A call holding the only concurrent slot makes the next one wait; the slot comes back after."""
    server.route("GET", "/x", Reply(200, {}))
    install("api", server.url, "--concurrent-requests", "1", "--requests-per-hour", "100")
    for _ in range(2):
        assert cli("exec", "api", "request", "-p", "path=/x").exit_code == 0
    status = cli("--json", "ratelimit", "status", "api").json()["instances"][0]["buckets"]
    assert {b["window"]: b["remaining"] for b in status} == {"hour": 97, "concurrent": 1}
    # A crashed process's lease: it expires, and until then the slot is taken.
    conn = sqlite3.connect(home / "fabric.db")
    with conn:
        conn.execute(
            "INSERT INTO gw_leases (id, tenant_id, instance_id, scope, expires_at)"
            " SELECT 'crashed', tenant_id, id, 'instance', strftime('%s', 'now') + 30"
            " FROM connector_instances"
        )
    conn.close()
    err = cli("--json", "exec", "api", "request", "-p", "path=/x").json()["error"]
    assert err["code"] == "RATE_LIMITED"
    assert err["limitType"] == "connector"
    assert 0 < err["retryAfterMs"] <= 31_000
    assert cli("ratelimit", "reset", "api").exit_code == 0
    assert cli("exec", "api", "request", "-p", "path=/x").exit_code == 0


def test_uninstall_purges_gateway_state_but_keeps_the_audit_trail(home: Path, server: LoopbackServer) -> None:
    """Breaker, buckets, cache and metrics of an uninstalled instance go; its audit rows stay."""
    server.route("GET", "/x", Reply(200, {}))
    install("api", server.url, "--requests-per-minute", "5")
    assert cli("exec", "api", "request", "-p", "path=/x").exit_code == 0
    assert cli("circuit", "open", "api", "--for", "60").exit_code == 0
    assert cli("connector", "uninstall", "api", "--yes").exit_code == 0
    snap = db_snapshot(home)
    assert not [t for t in ("gw_buckets", "gw_circuit", "gw_metrics") if t in snap]
    assert len(snap["gw_audit"]) >= 2
