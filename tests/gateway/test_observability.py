"""Metrics (Prometheus text) and audit rows for every call, refusals included; never a secret."""

from __future__ import annotations

import re
from pathlib import Path

from cuervo_fabric.testing import LoopbackServer, Reply
from tests.gateway.conftest import TOKEN, install
from tests.helpers import cli

_SAMPLE = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+]+$|^[a-z_]+(\{.*\})? \+Inf$')


def _calls(server: LoopbackServer) -> None:
    server.route(
        "GET", "/ok", Reply(200, {"fine": True}, {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "97"})
    )
    server.route("GET", "/broken", Reply(500, {"message": f"echoing Bearer {TOKEN} back"}))
    install("api", server.url, "--requests-per-minute", "50")
    assert cli("exec", "api", "request", "-p", "path=/ok").exit_code == 0
    assert cli("exec", "api", "request", "-p", "path=/ok").exit_code == 0
    assert cli("exec", "api", "request", "-p", "path=/broken").exit_code == 11
    assert cli("exec", "api", "nope").exit_code == 4


def test_metrics_in_prometheus_text(home: Path, server: LoopbackServer) -> None:
    """The seed's series with their labels; histogram buckets are cumulative; +Inf equals count."""
    _calls(server)
    res = cli("metrics")
    assert res.exit_code == 0
    text = res.stdout
    for name, kind in (
        ("connector_requests_total", "counter"),
        ("connector_request_duration_ms", "histogram"),
        ("connector_errors_total", "counter"),
        ("connector_circuit_state", "gauge"),
        ("connector_rate_limit_remaining", "gauge"),
        ("connector_credential_expiry_seconds", "gauge"),
    ):
        assert f"# TYPE {name} {kind}\n" in text
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert all(_SAMPLE.match(line) for line in samples), [s for s in samples if not _SAMPLE.match(s)]
    base = 'tenant="default",connector="http",instance="api",action="request"'
    assert f'connector_requests_total{{{base},status="success"}} 2' in samples
    assert f'connector_requests_total{{{base},status="error"}} 1' in samples
    assert (
        'connector_requests_total{tenant="default",connector="http",instance="api",action="nope",'
        'status="refused"} 1' in samples
    )
    assert f'connector_errors_total{{{base},error_code="UPSTREAM_ERROR"}} 1' in samples
    buckets = [s for s in samples if s.startswith(f"connector_request_duration_ms_bucket{{{base}")]
    counts = [float(s.rsplit(" ", 1)[1]) for s in buckets]
    assert counts == sorted(counts)
    assert buckets[-1].endswith('le="+Inf"} 3')
    assert f"connector_request_duration_ms_count{{{base}}} 3" in samples
    assert 'connector_circuit_state{tenant="default",connector="http",instance="api"} 0' in samples
    remaining = [s for s in samples if s.startswith("connector_rate_limit_remaining")]
    assert (
        'connector_rate_limit_remaining{tenant="default",connector="http",instance="api",'
        'scope="connector",window="minute"} 46' in remaining
    )
    assert any('scope="external"' in s and s.endswith(" 97") for s in remaining)
    as_json = cli("--json", "metrics").json()
    assert {f["name"] for f in as_json} >= {"connector_requests_total", "connector_request_duration_ms"}


def test_audit_rows_and_filters(home: Path, server: LoopbackServer) -> None:
    """One row per call with user, outcome, code, attempts, trace id and provider figures."""
    _calls(server)
    rows = cli("--json", "audit", "list").json()
    assert [r["action"] for r in rows][:4] == ["nope", "request", "request", "request"]
    assert {r["status"] for r in rows} == {"success", "error", "refused"}
    ok = [r for r in rows if r["status"] == "success" and r["action"] == "request"]
    assert len(ok) == 2
    assert ok[0]["rateLimitRemaining"] == 97
    assert ok[0]["rateLimitLimit"] == 100
    assert ok[0]["attempts"] == 1
    assert ok[0]["apiCalls"] == 1
    assert ok[0]["user"]
    assert len(ok[0]["traceId"]) == 32
    broken = next(r for r in rows if r["status"] == "error")
    assert (broken["errorCode"], broken["attempts"]) == ("UPSTREAM_ERROR", 4)
    assert [r["status"] for r in cli("--json", "audit", "list", "--status", "refused").json()] == ["refused"]
    assert len(cli("--json", "audit", "list", "--action", "request", "--limit", "2").json()) == 2
    assert len(cli("--json", "audit", "list", "--instance", "api", "--since", "1h").json()) == len(rows)
    assert cli("--json", "audit", "list", "--since", "2999-01-01T00:00:00Z").json() == []
    bad = cli("--json", "audit", "list", "--since", "yesterday")
    assert bad.exit_code == 2
    assert bad.error["field"] == "since"
    assert cli("audit", "list").exit_code == 0


def test_usage_counters_follow_the_calls(home: Path, server: LoopbackServer) -> None:
    """connector show counts calls that went through (refusals are in audit and metrics only)."""
    _calls(server)
    usage = cli("--json", "connector", "show", "api").json()["usage"]
    # auth login's health check, two successes and one upstream error
    assert (usage["totalRequests"], usage["totalErrors"]) == (4, 1)
    assert cli("--json", "connector", "show", "api").json()["lastActivityAt"]


def test_no_secret_in_metrics_audit_or_the_store(home: Path, server: LoopbackServer) -> None:
    """The token appears in no output and in no byte of the store (it echoed back in an error)."""
    _calls(server)
    outputs = [
        cli("metrics").stdout,
        cli("--json", "metrics").stdout,
        cli("--json", "audit", "list").stdout,
        cli("--json", "exec", "api", "request", "-p", "path=/broken", "--explain").stdout,
        cli("--json", "ratelimit", "status").stdout,
        cli("--json", "circuit", "status").stdout,
    ]
    assert all(TOKEN not in out for out in outputs)
    assert "[REDACTED]" in outputs[3]
    for path in home.glob("fabric.db*"):
        assert TOKEN.encode() not in path.read_bytes(), path.name
