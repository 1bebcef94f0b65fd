"""Separate CLI processes share the breaker and the rate limits through the store."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from cuervo_fabric.domain.timeutil import parse_iso
from cuervo_fabric.testing import LoopbackServer, RecordedRequest, Reply
from tests.gateway.conftest import install, run, start
from tests.helpers import cli


@pytest.mark.slow
def test_thirty_processes_on_ten_per_minute(home: Path, server: LoopbackServer) -> None:
    """30 concurrent exec processes, 10 requests/minute: at most 10 reach the server, the others are
    RATE_LIMITED with a retryAfterMs that ends when the minute's window does."""
    server.route("GET", "/items", Reply(200, {"items": []}))
    install("api", server.url)
    assert cli("connector", "update", "api", "--requests-per-minute", "10").exit_code == 0
    before = time.time()
    procs = [start(home, "--json", "exec", "api", "request", "-p", "path=/items") for _ in range(30)]
    outs = [p.communicate(timeout=180) for p in procs]
    after = time.time()
    results = [json.loads(out) for out, _ in outs]
    ok = [r for r in results if r.get("success")]
    refused = [r for r in results if not r.get("success")]
    hits = len(server.calls("GET", "/items"))
    assert hits <= 10
    assert len(ok) == hits
    assert len(ok) + len(refused) == 30
    status = cli("--json", "ratelimit", "status", "api").json()
    (minute,) = [b for b in status["instances"][0]["buckets"] if b["window"] == "minute"]
    assert minute["remaining"] == 10 - hits
    reset_at = parse_iso(minute["resetAt"])
    for r in refused:
        err = r["error"]
        assert (err["code"], err["limitType"], err["retryable"]) == ("RATE_LIMITED", "connector", True)
        # Truthful: the wait ends when the window refills (measured from when the process asked).
        assert (reset_at - after) * 1000 - 1000 <= err["retryAfterMs"] <= (reset_at - before) * 1000 + 1000
    assert {p.returncode for p, r in zip(procs, results, strict=True) if not r.get("success")} <= {9}


def test_breaker_opens_then_lets_at_most_half_open_probes_through(home: Path, server: LoopbackServer) -> None:
    """After the breaker opens no request reaches the server until its timeout; then only
    halfOpenMaxRequests probes go out at once, and enough successful probes close it."""
    server.route("GET", "/down", Reply(503, {"message": "maintenance"}))
    install("api", server.url)
    res = cli("--json", "circuit", "configure", "api", "--failure-threshold", "2", "--timeout", "600",
              "--half-open-max", "2", "--success-threshold", "2")  # fmt: skip
    assert res.exit_code == 0, res.stdout
    for _ in range(2):
        out = run(home, "--json", "exec", "api", "request", "-p", "path=/down")
        assert json.loads(out.stdout)["error"]["code"] == "UPSTREAM_ERROR"
    hits = len(server.calls("GET", "/down"))
    state = cli("--json", "circuit", "status", "api").json()
    assert state["state"] == "open"
    assert state["reason"] == "2 consecutive failures"

    for _ in range(3):  # open: refused without calling out
        out = run(home, "--json", "exec", "api", "request", "-p", "path=/down")
        err = json.loads(out.stdout)["error"]
        assert err["code"] == "CIRCUIT_OPEN"
        assert 0 < err["retryAfterMs"] <= 600_001
    assert len(server.calls("GET", "/down")) == hits

    # A shorter timeout applies to the open period under way: the breaker may probe now.
    assert cli("circuit", "configure", "api", "--timeout", "0.001").exit_code == 0
    assert cli("--json", "circuit", "status", "api").json()["state"] == "half_open"

    release = threading.Event()

    def held(req: RecordedRequest) -> Reply:
        release.wait(60)
        return Reply(200, {"up": True})

    server.route("GET", "/down", held)
    procs = [start(home, "--json", "exec", "api", "request", "-p", "path=/down") for _ in range(6)]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        probes = len(server.calls("GET", "/down")) - hits
        finished = sum(p.poll() is not None for p in procs)
        if probes + finished >= len(procs):  # every process is either refused or at the server
            break
        time.sleep(0.05)
    release.set()
    results = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    probes = len(server.calls("GET", "/down")) - hits
    assert 1 <= probes <= 2
    assert sum(r["success"] for r in results) == probes
    assert all(r["error"]["code"] == "CIRCUIT_OPEN" for r in results if not r["success"])
    state = cli("--json", "circuit", "status", "api").json()
    if probes == 2:
        assert state["state"] == "closed"
    else:  # one probe succeeded; one more success closes it
        assert run(home, "--json", "exec", "api", "request", "-p", "path=/down").returncode == 0
        assert cli("--json", "circuit", "status", "api").json()["state"] == "closed"


def test_provider_block_is_honoured_by_another_process(home: Path, server: LoopbackServer) -> None:
    """A 429 with Retry-After stores blocked_until: the next process waits without calling out."""
    server.route("GET", "/busy", Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "120"}))
    install("api", server.url)
    first = json.loads(run(home, "--json", "exec", "api", "request", "-p", "path=/busy").stdout)
    assert first["error"]["code"] == "RATE_LIMITED"
    assert first["error"]["limitType"] == "external"
    second = json.loads(run(home, "--json", "exec", "api", "request", "-p", "path=/busy").stdout)
    assert second["error"]["code"] == "RATE_LIMITED"
    assert second["error"]["limitType"] == "external"
    assert 100_000 < second["error"]["retryAfterMs"] <= 120_001
    assert second["metadata"]["apiCalls"] == 0
    assert len(server.calls("GET", "/busy")) == 1
    status = cli("--json", "ratelimit", "status", "api").json()
    (block,) = status["instances"][0]["provider"]
    assert block["blockedUntil"] is not None
    assert "Retry-After 120" in block["reason"]
    assert cli("ratelimit", "reset", "api").exit_code == 0
    server.route("GET", "/busy", Reply(200, {"ok": True}))
    assert run(home, "--json", "exec", "api", "request", "-p", "path=/busy").returncode == 0
