"""A long-running process (the server, an SDK user) keeps what it read about an instance and its
rate-limit tokens, and still sees every change another process makes, on the very next call.

Everything is real: an in-process ``Fabric`` as the server builds it, its store (the home's SQLite
file, or a PostgreSQL schema through a profile), a loopback provider, and ``python -m
cuervo_fabric`` subprocesses as the other process.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cuervo_fabric.bootstrap import Fabric
from cuervo_fabric.domain.models import ConnectorResult
from cuervo_fabric.errors import NotFoundError
from cuervo_fabric.store.sqlite import SqliteStore
from cuervo_fabric.store.sqlite_gateway import SqliteGatewayState
from cuervo_fabric.testing import LoopbackServer, Reply
from tests.contract.backends import pg_schema, schema_url
from tests.gateway.conftest import TOKEN, install, run
from tests.helpers import cli

__all__ = ["pg_schema"]  # a fixture, used through backend_name

NOW = 1_800_000_000.0
PARAMS = {"path": "/x"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_name(request: pytest.FixtureRequest, home: Path) -> str:
    """The store every process of the test uses: the home's SQLite file, or a fresh PostgreSQL
    schema made the default profile (so in-process and subprocess CLI calls all go there)."""
    if request.param == "postgres":
        schema = request.getfixturevalue("pg_schema")
        for key, value in (("profiles.pg.database_url", schema_url(schema)), ("default_profile", "pg")):
            res = cli("config", "set", key, value)
            assert res.exit_code == 0, res.stdout + res.stderr
    return str(request.param)


@pytest.fixture
def fabric(backend_name: str) -> Iterator[Fabric]:
    """The fabric of a long-running process, telemetry on its writer thread as the server has it."""
    fab = Fabric()
    assert fab.store.backend == backend_name
    fab.background_telemetry()
    try:
        yield fab
    finally:
        fab.close()


def _ok(result: ConnectorResult) -> ConnectorResult:
    assert result.success, result.error
    return result


def _code(result: ConnectorResult) -> str:
    assert not result.success
    assert result.error is not None
    return str(result.error["code"])


def _cli(home: Path, *args: str, stdin: str | None = None) -> dict[str, Any]:
    """``cuervo-fabric --json ARGS`` in a process of its own; its JSON output."""
    proc = run(home, "--json", *args, stdin=stdin)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dict(json.loads(proc.stdout)) if proc.stdout.strip() else {}


def _install_limited(url: str, per_minute: int) -> None:
    """``api`` with a per-minute limit, its bucket full (``auth login`` spends a token on its
    health check)."""
    install("api", url, "--requests-per-minute", str(per_minute))
    assert cli("ratelimit", "reset", "api").exit_code == 0


def _minute_used(home: Path, ref: str) -> int:
    """Tokens used in the instance's per-minute bucket, as another process reports them."""
    status = _cli(home, "ratelimit", "status", ref)
    (minute,) = [b for b in status["instances"][0]["buckets"] if b["window"] == "minute"]
    return int(minute["capacity"]) - int(minute["remaining"])


def _call_until_tokens_are_held(fab: Fabric, at_least: int) -> int:
    """Make ``at_least`` calls, then more until the store counts more tokens used than calls made
    (read on another connection, the in-process CLI's); returns the calls made."""
    made = 0
    for made in range(1, at_least + 41):
        _ok(fab.gateway.execute("api", "request", PARAMS))
        if made >= at_least:
            status = cli("--json", "ratelimit", "status", "api").json()
            (minute,) = [b for b in status["instances"][0]["buckets"] if b["window"] == "minute"]
            if minute["capacity"] - minute["remaining"] > made:
                return made
    raise AssertionError(f"{made} calls and the process never held a token ahead")


# --------------------------------------------------------------------------- SQLite change marker
def test_sqlite_change_marker_moves_on_every_commit_whoever_writes(tmp_path: Path) -> None:
    """Equal across reads with nothing in between; moves after another connection's write (the
    WAL-index header) and after this connection's own write."""
    path = tmp_path / "fabric.db"
    mine, other = SqliteStore(path), SqliteStore(path)
    try:
        first = mine.change_marker()
        assert mine.change_marker() == first
        assert SqliteGatewayState(mine).change_marker() == first  # the port says the same

        SqliteGatewayState(other).set_tenant_limits("t", {"requestsPerMinute": 9}, "2027-01-15T08:00:00Z")
        second = mine.change_marker()
        assert second != first
        assert mine.change_marker() == second

        state = SqliteGatewayState(mine)
        state.rate_acquire("t", "i", {"requestsPerMinute": 5}, 1, NOW, 35)
        third = mine.change_marker()
        assert third not in (first, second)
        assert mine.change_marker() == third

        # A read by either connection moves nothing.
        assert SqliteGatewayState(other).tenant_limits("t")["requestsPerMinute"] == 9
        assert state.rate_status("t", "i", NOW)["buckets"]
        assert mine.change_marker() == third
    finally:
        mine.close()
        other.close()


def test_sqlite_change_marker_sees_a_write_in_another_process(home: Path) -> None:
    """A CLI process that changes the tenant's limits moves the marker of a store held open here."""
    mine = SqliteStore(home / "fabric.db")
    try:
        before = mine.change_marker()
        assert mine.change_marker() == before
        _cli(home, "ratelimit", "set", "--requests-per-minute", "7")
        assert mine.change_marker() != before
        assert SqliteGatewayState(mine).tenant_limits("default")["requestsPerMinute"] == 7
    finally:
        mine.close()


# --------------------------------------------------------------------------- hot path vs other processes
def test_another_process_pauses_and_resumes_the_instance(
    home: Path, server: LoopbackServer, fabric: Fabric
) -> None:
    """After `connector pause` in another process the next in-process call is refused with
    INVALID_STATE and never reaches the provider; after `connector resume` it goes out again."""
    server.route("GET", "/x", Reply(200, {"ok": True}))
    install("api", server.url)
    gateway = fabric.gateway
    for _ in range(3):
        _ok(gateway.execute("api", "request", PARAMS))
    assert len(server.calls("GET", "/x")) == 3

    _cli(home, "connector", "pause", "api")
    assert _code(gateway.execute("api", "request", PARAMS)) == "INVALID_STATE"
    assert _code(gateway.execute("api", "request", PARAMS)) == "INVALID_STATE"
    assert len(server.calls("GET", "/x")) == 3

    _cli(home, "connector", "resume", "api")
    _ok(gateway.execute("api", "request", PARAMS))
    assert len(server.calls("GET", "/x")) == 4


def test_another_process_opens_and_closes_the_breaker(
    home: Path, server: LoopbackServer, fabric: Fabric
) -> None:
    """`circuit open` elsewhere: the next call is CIRCUIT_OPEN and sends nothing; `circuit close`
    elsewhere: calls go out again."""
    server.route("GET", "/x", Reply(200, {"ok": True}))
    install("api", server.url)
    gateway = fabric.gateway
    for _ in range(3):
        _ok(gateway.execute("api", "request", PARAMS))

    _cli(home, "circuit", "open", "api", "--for", "600")
    refused = gateway.execute("api", "request", PARAMS)
    assert _code(refused) == "CIRCUIT_OPEN"
    assert refused.error is not None
    assert 0 < refused.error["retryAfterMs"] <= 600_001
    assert _code(gateway.execute("api", "request", PARAMS)) == "CIRCUIT_OPEN"
    assert len(server.calls("GET", "/x")) == 3

    _cli(home, "circuit", "close", "api")
    for _ in range(2):
        _ok(gateway.execute("api", "request", PARAMS))
    assert len(server.calls("GET", "/x")) == 5


def test_a_login_in_another_process_is_used_on_the_next_call(
    home: Path, server: LoopbackServer, fabric: Fabric
) -> None:
    """The process reuses the secret it opened while the credential is unchanged, and sends the
    new token as soon as another process stores one."""
    server.route("GET", "/x", Reply(200, {"ok": True}))
    install("api", server.url)
    gateway = fabric.gateway
    for _ in range(3):
        _ok(gateway.execute("api", "request", PARAMS))

    _cli(home, "auth", "login", "api", "--with-token", stdin="tok_rotated_elsewhere\n")
    for _ in range(2):
        _ok(gateway.execute("api", "request", PARAMS))
    sent = [r.headers.get("authorization") for r in server.calls("GET", "/x")]
    assert sent == [f"Bearer {TOKEN}"] * 3 + ["Bearer tok_rotated_elsewhere"] * 2


def test_a_logout_in_another_process_stops_the_cached_secret(
    home: Path, server: LoopbackServer, fabric: Fabric
) -> None:
    """The secret this process opened is never sent once another process deleted the credential."""
    server.route("GET", "/x", Reply(200, {"ok": True}))
    install("api", server.url)
    gateway = fabric.gateway
    for _ in range(2):
        _ok(gateway.execute("api", "request", PARAMS))

    proc = run(home, "auth", "logout", "api")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _code(gateway.execute("api", "request", PARAMS)) == "AUTH_REQUIRED"
    assert len(server.calls("GET", "/x")) == 2

    _cli(home, "auth", "login", "api", "--with-token", stdin="tok_after_logout\n")
    _ok(gateway.execute("api", "request", PARAMS))
    sent = [r.headers.get("authorization") for r in server.calls("GET", "/x")]
    assert sent == [f"Bearer {TOKEN}"] * 2 + ["Bearer tok_after_logout"]


def test_an_instance_reinstalled_by_another_process_is_the_one_called(
    home: Path, server: LoopbackServer, fabric: Fabric
) -> None:
    """The name the process keeps calling now names another instance (uninstalled and installed
    again elsewhere, against another provider): the next call goes to the new one."""
    server.route("GET", "/x", Reply(200, {"from": "old"}))
    install("api", server.url)
    gateway = fabric.gateway
    assert _ok(gateway.execute("api", "request", PARAMS)).data["body"] == {"from": "old"}

    with LoopbackServer() as other:
        other.route("GET", "/x", Reply(200, {"from": "new"}))
        other.route("GET", "/health", Reply(200, {"ok": True}))
        _cli(home, "connector", "uninstall", "api", "--yes")
        with pytest.raises(NotFoundError):  # resolving the name fails before any call is built
            gateway.execute("api", "request", PARAMS)
        _cli(home, "connector", "install", "http", "--name", "api", "--set", f"base_url={other.url}",
             "--set", "auth_type=bearer_token", "--set", "health_path=/health")  # fmt: skip
        _cli(home, "auth", "login", "api", "--with-token", stdin="tok_new_instance\n")
        assert _ok(gateway.execute("api", "request", PARAMS)).data["body"] == {"from": "new"}
        (sent,) = other.calls("GET", "/x")
        assert sent.headers["authorization"] == "Bearer tok_new_instance"
    assert len(server.calls("GET", "/x")) == 1


def test_other_processes_changes_in_turn_with_the_same_gateway(
    home: Path, server: LoopbackServer, fabric: Fabric
) -> None:
    """Pause, breaker and credential changes one after another, each seen by the next call, and
    calls between them keep working (the gateway's cached view follows every change)."""
    server.route("GET", "/x", Reply(200, {"ok": True}))
    install("api", server.url)
    gateway = fabric.gateway
    _ok(gateway.execute("api", "request", PARAMS))

    _cli(home, "connector", "pause", "api")
    assert _code(gateway.execute("api", "request", PARAMS)) == "INVALID_STATE"
    _cli(home, "connector", "resume", "api")
    _ok(gateway.execute("api", "request", PARAMS))
    _cli(home, "circuit", "open", "api")
    assert _code(gateway.execute("api", "request", PARAMS)) == "CIRCUIT_OPEN"
    _cli(home, "auth", "login", "api", "--with-token", stdin="tok_second\n")
    assert _code(gateway.execute("api", "request", PARAMS)) == "CIRCUIT_OPEN"
    _cli(home, "circuit", "close", "api")
    _ok(gateway.execute("api", "request", PARAMS))
    sent = [r.headers.get("authorization") for r in server.calls("GET", "/x")]
    assert sent == [f"Bearer {TOKEN}", f"Bearer {TOKEN}", "Bearer tok_second"]


# --------------------------------------------------------------------------- tokens taken ahead
def test_a_long_running_process_holds_a_few_tokens_and_gives_them_back_on_close(
    home: Path, server: LoopbackServer, backend_name: str
) -> None:
    """200/minute: after some calls the process holds tokens ahead (another process sees more
    used than calls made, never more than 2% of the bucket beyond), and after close exactly the
    calls made are used."""
    server.route("GET", "/x", Reply(200, {"ok": True}))
    _install_limited(server.url, 200)
    with Fabric() as fab:  # as a script using the SDK would
        assert fab.store.backend == backend_name
        made = _call_until_tokens_are_held(fab, at_least=20)
        assert len(server.calls("GET", "/x")) == made
        held = _minute_used(home, "api")
        assert made < held <= made + 200 // 50
    assert _minute_used(home, "api") == made  # leaving the block gave them back


def test_a_small_limit_is_exact_token_by_token(home: Path, server: LoopbackServer, fabric: Fabric) -> None:
    """10/minute: no tokens are taken ahead (status shows exactly the calls made), and 12 calls
    give 10 successes and 2 RATE_LIMITED that never reach the provider."""
    server.route("GET", "/x", Reply(200, {"ok": True}))
    _install_limited(server.url, 10)
    gateway = fabric.gateway
    for made in range(1, 6):
        _ok(gateway.execute("api", "request", PARAMS))
        if made in (1, 5):
            assert _minute_used(home, "api") == made
    results = [gateway.execute("api", "request", PARAMS) for _ in range(7)]
    assert [r.success for r in results] == [True] * 5 + [False] * 2
    for refused in results[5:]:
        assert _code(refused) == "RATE_LIMITED"
        assert refused.error is not None
        assert refused.error["limitType"] == "connector"
        assert 0 < refused.error["retryAfterMs"] <= 60_001
    assert len(server.calls("GET", "/x")) == 10
    assert _minute_used(home, "api") == 10


def test_a_new_limit_from_another_process_applies_to_the_tokens_held(
    home: Path, server: LoopbackServer, fabric: Fabric
) -> None:
    """Tokens held for 1000/minute are given back when another process lowers the limit: the
    process then admits exactly what the new limit leaves."""
    server.route("GET", "/x", Reply(200, {"ok": True}))
    _install_limited(server.url, 1000)
    made = _call_until_tokens_are_held(fabric, at_least=20)
    assert _minute_used(home, "api") > made

    _cli(home, "connector", "update", "api", "--requests-per-minute", str(made + 5))
    results = [fabric.gateway.execute("api", "request", PARAMS) for _ in range(8)]
    assert [r.success for r in results] == [True] * 5 + [False] * 3
    assert {_code(r) for r in results[5:]} == {"RATE_LIMITED"}
    assert len(server.calls("GET", "/x")) == made + 5
    assert _minute_used(home, "api") == made + 5


# --------------------------------------------------------------------------- explain
def test_explain_keeps_a_trace_only_when_asked(server: LoopbackServer, fabric: Fabric) -> None:
    """explain=True: every stage of a successful call is in ``call.trace``; explain=False: no
    trace is kept, and the call succeeds all the same."""
    server.route("GET", "/x", Reply(200, {"ok": True}))
    _install_limited(server.url, 1000)
    gateway = fabric.gateway

    plain = gateway.new_call("api", "request", PARAMS)
    assert plain.trace is None
    result = _ok(gateway.run(plain))
    assert plain.trace is None
    assert result.data["body"] == {"ok": True}

    traced = gateway.new_call("api", "request", PARAMS, explain=True)
    _ok(gateway.run(traced))
    assert traced.trace is not None
    stages = [s["stage"] for s in traced.trace]
    assert stages == ["permission", "cache", "circuit", "ratelimit", "credentials", "http", "observe"]
    by = {s["stage"]: s for s in traced.trace}
    assert by["circuit"]["state"] == "closed"
    assert by["ratelimit"]["allowed"] is True
    assert by["credentials"]["using"] == "bearer_token"
    assert by["observe"]["status"] == "success"
    assert len(server.calls("GET", "/x")) == 2


def test_the_cli_still_takes_exactly_one_token_per_call(
    home: Path, server: LoopbackServer, backend_name: str
) -> None:
    """A CLI call is one request: it takes its weight and nothing ahead, even on a large limit."""
    server.route("GET", "/x", Reply(200, {"ok": True}))
    _install_limited(server.url, 10000)
    for made in (1, 2):
        assert run(home, "--json", "exec", "api", "request", "-p", "path=/x").returncode == 0
        assert _minute_used(home, "api") == made
    assert cli("--json", "exec", "api", "request", "-p", "path=/x").exit_code == 0
    assert _minute_used(home, "api") == 3
