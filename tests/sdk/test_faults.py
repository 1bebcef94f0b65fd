"""Fault injection through the real pipeline: 429, 5xx, timeouts, dropped connections, 401 then refresh."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cuervo_fabric.testing import (
    FabricHarness,
    MockProvider,
    Reply,
    dropped_connection,
    rate_limited,
    server_error,
    slow_reply,
    unauthorized,
)


@pytest.fixture
def api() -> Iterator[MockProvider]:
    with MockProvider() as provider:
        yield provider


@pytest.fixture
def fabric(tmp_path: Path) -> Iterator[FabricHarness]:
    with FabricHarness(tmp_path) as harness:
        yield harness


def test_429_is_retried_after_retry_after(api: MockProvider, fabric: FabricHarness) -> None:
    """A 429 with Retry-After: 2 is retried after (a skipped) 2 s wait, then succeeds."""
    api.expect("GET", "/x", rate_limited(2), Reply(200, {"ok": True}))
    inst = fabric.install("http", {"base_url": api.url})
    result = fabric.exec(inst, "request", {"path": "/x"})
    assert result.success, result.error
    assert result.metadata.attempts == 2
    waits = [s for s in fabric.last_trace if s["stage"] == "retry"]
    assert waits
    assert waits[0]["wait_s"] == 2
    assert waits[0]["reason"] == "Retry-After"


def test_persistent_5xx_is_upstream_error_after_the_retries(api: MockProvider, fabric: FabricHarness) -> None:
    """503 on every attempt: one try plus three retries, then UPSTREAM_ERROR (retryable)."""
    api.expect("GET", "/x", server_error(503), times=4)
    inst = fabric.install("http", {"base_url": api.url})
    result = fabric.exec(inst, "request", {"path": "/x"})
    assert result.error is not None
    assert (result.error["code"], result.error["retryable"]) == ("UPSTREAM_ERROR", True)
    assert result.metadata.attempts == 4


def test_a_slow_provider_times_out(api: MockProvider, fabric: FabricHarness) -> None:
    """A reply slower than the call's timeout is TIMEOUT, within the budget."""
    api.expect("GET", "/x", slow_reply(1.5), times=None)
    inst = fabric.install("http", {"base_url": api.url})
    result = fabric.exec(inst, "request", {"path": "/x"}, timeout_s=0.3)
    assert result.error is not None
    assert result.error["code"] == "TIMEOUT"


def test_a_dropped_connection_is_upstream_error(api: MockProvider, fabric: FabricHarness) -> None:
    """A connection closed without an answer is UPSTREAM_ERROR and is retried for reads."""
    api.expect("GET", "/x", dropped_connection(), Reply(200, {"ok": True}))
    inst = fabric.install("http", {"base_url": api.url})
    result = fabric.exec(inst, "request", {"path": "/x"})
    assert result.success, result.error
    assert result.metadata.attempts == 2


def test_401_then_refresh_then_retry(api: MockProvider, fabric: FabricHarness) -> None:
    """An expired OAuth2 token: 401, one refresh at token_url, the retry carries the new token."""
    api.expect("GET", "/me", unauthorized(), headers={"Authorization": "Bearer old"})
    refresh = api.expect_token_refresh("/oauth/token", access_token="new")
    api.expect("GET", "/me", Reply(200, {"id": 1}), headers={"Authorization": "Bearer new"})
    settings = {
        "base_url": api.url,
        "auth_type": "oauth2",
        "token_url": f"{api.url}/oauth/token",
        "client_id": "c",
    }
    inst = fabric.install("http", settings, credential={"access_token": "old", "refresh_token": "r1"})
    result = fabric.exec(inst, "request", {"path": "/me"})
    assert result.success, result.error
    assert result.data["body"] == {"id": 1}
    assert refresh.calls[0].form()["refresh_token"] == "r1"


def test_401_without_a_refresh_token_is_auth_failed(api: MockProvider, fabric: FabricHarness) -> None:
    """A rejected bearer token is AUTH_FAILED; the token never appears in the error."""
    api.expect("GET", "/x", unauthorized())
    inst = fabric.install(
        "http", {"base_url": api.url, "auth_type": "bearer_token"}, credential="sekrit-token"
    )
    result = fabric.exec(inst, "request", {"path": "/x"})
    assert result.error is not None
    assert result.error["code"] == "AUTH_FAILED"
    assert "sekrit-token" not in str(result.to_dict())
