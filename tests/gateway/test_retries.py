"""Retries with fault injection: backoff, Retry-After, timeouts and idempotency (no real sleeping)."""

from __future__ import annotations

from pathlib import Path

from cuervo_fabric.testing import LoopbackServer, Reply
from tests.gateway.conftest import TOKEN, install
from tests.helpers import cli


def _exec(*args: str) -> dict:
    res = cli("--json", "exec", "api", "request", "--explain", *args)
    return res.json()


def _steps(result: dict, stage: str) -> list[dict]:
    return [s for s in result["explain"] if s["stage"] == stage]


def test_503_twice_then_200_is_retried_with_backoff(home: Path, server: LoopbackServer) -> None:
    """Two 503s are retried (full-jitter waits of at most 1 s and 2 s), the third attempt succeeds."""
    server.route("GET", "/flaky", [Reply(503, {"message": "busy"}), Reply(503), Reply(200, {"ok": True})])
    install("api", server.url)
    result = _exec("-p", "path=/flaky")
    assert result["success"] is True
    assert result["data"]["body"] == {"ok": True}
    assert result["metadata"]["attempts"] == 3
    waits = _steps(result, "retry")
    assert [w["reason"] for w in waits] == ["backoff", "backoff"]
    assert 0 <= waits[0]["wait_s"] <= 1
    assert 0 <= waits[1]["wait_s"] <= 2
    assert [h["status"] for h in _steps(result, "http")] == [503, 503, 200]
    calls = server.calls("GET", "/flaky")
    assert len(calls) == 3
    assert all(c.headers["authorization"] == f"Bearer {TOKEN}" for c in calls)  # re-injected each time


def test_429_retry_after_is_waited_first(home: Path, server: LoopbackServer) -> None:
    """A 429 with Retry-After waits exactly that long (recorded), then the retry succeeds."""
    server.route(
        "GET", "/limited", [Reply(429, {"message": "slow down"}, {"Retry-After": "2"}), Reply(200, [])]
    )
    install("api", server.url)
    result = _exec("-p", "path=/limited")
    assert result["success"] is True
    (wait,) = _steps(result, "retry")
    assert wait == {"stage": "retry", "retry": 1, "wait_s": 2.0, "reason": "Retry-After"}
    assert len(server.calls("GET", "/limited")) == 2


def test_a_wait_past_the_timeout_fails_fast_with_retry_after(home: Path, server: LoopbackServer) -> None:
    """A Retry-After longer than what is left of the call's timeout is not waited: RATE_LIMITED."""
    server.route("GET", "/later", Reply(429, {"message": "come back later"}, {"Retry-After": "120"}))
    install("api", server.url)
    result = _exec("-p", "path=/later", "--timeout", "5")
    assert result["success"] is False
    assert result["error"]["code"] == "RATE_LIMITED"
    assert result["error"]["retryAfterMs"] == 120_000
    assert result["error"]["limitType"] == "external"
    assert _steps(result, "retry") == []
    assert len(server.calls("GET", "/later")) == 1


def test_a_timeout_is_reported_and_never_outlives_the_call(home: Path, server: LoopbackServer) -> None:
    """A provider slower than --timeout gives TIMEOUT; no retry starts after the deadline."""
    server.route("GET", "/slow", Reply(200, {"late": True}, delay_s=1.5))
    install("api", server.url)
    result = _exec("-p", "path=/slow", "--timeout", "0.4")
    assert result["success"] is False
    assert result["error"]["code"] == "TIMEOUT"
    assert result["error"]["retryable"] is True
    assert len(server.calls("GET", "/slow")) == 1


def test_post_is_retried_only_with_an_idempotency_key(home: Path, server: LoopbackServer) -> None:
    """Without a key a 503 on POST is final; with one the same key is sent on every attempt."""
    server.route("POST", "/orders", [Reply(503), Reply(503), Reply(201, {"id": 7})])
    install("api", server.url)
    result = _exec("-p", "method=POST", "-p", "path=/orders", "--params", '{"body": {"qty": 1}}')
    assert result["error"]["code"] == "UPSTREAM_ERROR"
    assert "idempotency key" in result["error"]["notRetried"]
    assert len(server.calls("POST", "/orders")) == 1

    result = _exec(
        "-p", "method=POST", "-p", "path=/orders", "--params", '{"body": {"qty": 1}}',
        "--idempotency-key", "order-42",
    )  # fmt: skip
    assert result["success"] is True
    assert result["data"]["body"] == {"id": 7}
    keys = [c.headers.get("idempotency-key") for c in server.calls("POST", "/orders")]
    assert keys == [None, "order-42", "order-42"]
