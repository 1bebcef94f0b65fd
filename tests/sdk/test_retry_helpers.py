"""retry and poll_until: backoff, Retry-After, give-up rules and deadlines, on a FakeClock."""

from __future__ import annotations

import pytest

from cuervo_fabric.sdk import (
    FabricTimeoutError,
    NotFoundError,
    RateLimitedError,
    UpstreamError,
    poll_until,
    retry,
)
from cuervo_fabric.testing import FakeClock


def test_retry_succeeds_after_retryable_errors_with_capped_backoff() -> None:
    """Retryable errors are tried again; each wait is within the full-jitter ceiling (1 s, 2 s)."""
    clock = FakeClock()
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise UpstreamError("503", retryable=True)
        return "ok"

    assert retry(flaky, attempts=3, clock=clock) == "ok"
    assert len(calls) == 3
    assert len(clock.sleeps) == 2
    assert 0 <= clock.sleeps[0] <= 1.0
    assert 0 <= clock.sleeps[1] <= 2.0


def test_retry_waits_at_least_retry_after() -> None:
    """A provider's retry_after_ms is a floor for the wait."""
    clock = FakeClock()
    outcomes: list[object] = [RateLimitedError("slow down", retry_after_ms=7000), "done"]

    def call() -> object:
        item = outcomes.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    assert retry(call, clock=clock) == "done"
    assert clock.sleeps[0] >= 7.0


def test_retry_does_not_retry_caller_errors_and_reraises_the_last() -> None:
    """A non-retryable error is raised at once; retryable ones are raised after the last attempt."""
    clock = FakeClock()
    with pytest.raises(NotFoundError):
        retry(lambda: (_ for _ in ()).throw(NotFoundError("gone")), clock=clock)
    assert clock.sleeps == []
    with pytest.raises(UpstreamError):
        retry(lambda: (_ for _ in ()).throw(UpstreamError("down", retryable=True)), attempts=2, clock=clock)
    assert len(clock.sleeps) == 1


def test_poll_until_returns_the_first_accepted_result() -> None:
    """poll_until reads until done() accepts, sleeping interval_s between reads."""
    clock = FakeClock()
    states = iter(["queued", "running", "completed"])
    assert (
        poll_until(lambda: next(states), lambda s: s == "completed", interval_s=5, clock=clock) == "completed"
    )
    assert clock.sleeps == [5, 5]


def test_poll_until_times_out_with_timeout_code() -> None:
    """Past timeout_s the helper raises TIMEOUT (retryable) instead of polling forever."""
    clock = FakeClock()
    with pytest.raises(FabricTimeoutError) as info:
        poll_until(lambda: "queued", lambda s: s == "completed", interval_s=4, timeout_s=10, clock=clock)
    assert info.value.code == "TIMEOUT"
    assert sum(clock.sleeps) == pytest.approx(10)


def test_default_clock_honours_the_no_sleep_switch() -> None:
    """In test mode (CUERVO_FABRIC_NO_SLEEP) the real clock skips waits but still reaches deadlines."""
    with pytest.raises(FabricTimeoutError):
        poll_until(lambda: 0, lambda _: False, interval_s=30, timeout_s=120)


def test_fake_clock_moves_only_when_told() -> None:
    """FakeClock's time moves with sleep and advance, never on its own; it refuses going back."""
    clock = FakeClock(start=100.0)
    assert clock.now() == 100.0
    assert clock.monotonic() == 0.0
    clock.advance(2)
    clock.sleep(3)
    assert (clock.now(), clock.monotonic(), clock.sleeps) == (105.0, 5.0, [3])
    with pytest.raises(ValueError, match="back"):
        clock.advance(-1)
