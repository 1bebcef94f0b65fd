"""Retry schedules with jitter and the decision after each attempt (pure domain rules)."""

from __future__ import annotations

import pytest

from cuervo_fabric.domain.subscriptions import (
    SVIX_BACKOFF_MS,
    WEBHOOK_POLICY,
    AttemptOutcome,
    RetryPolicy,
    decide,
    parse_duration,
)
from cuervo_fabric.errors import InvalidInputError


def test_the_webhook_default_is_the_svix_schedule():
    """Outgoing webhooks wait 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h between 8 attempts."""
    assert (
        WEBHOOK_POLICY.backoff_ms
        == SVIX_BACKOFF_MS
        == (5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000)
    )
    assert WEBHOOK_POLICY.max_retries == 7
    waits = [WEBHOOK_POLICY.delay_s(n, 0.5) for n in range(1, 8)]
    assert waits == [5, 300, 1800, 7200, 18000, 36000, 36000]


def test_jitter_spreads_each_wait_within_its_bounds_and_the_last_wait_repeats():
    """With ±20 % jitter a 5 s wait lies in [4 s, 6 s]; retries past the list reuse its last entry."""
    policy = RetryPolicy(max_retries=10, backoff_ms=(5_000, 60_000), jitter=0.2)
    assert policy.delay_s(1, 0.0) == pytest.approx(4.0)
    assert policy.delay_s(1, 0.999999) == pytest.approx(6.0, rel=1e-4)
    assert policy.delay_s(5, 0.5) == pytest.approx(60.0)


def test_decide_retries_until_the_budget_then_dead_letters_and_410_disables():
    """Success is done; failures retry until max_retries is spent; 410 disables at once."""
    policy = RetryPolicy(max_retries=2, backoff_ms=(1_000,), jitter=0.0)
    fail = AttemptOutcome(False, 500, "HTTP 500")
    assert decide(policy, 1, AttemptOutcome(True, 200), 100.0, 0.5).status == "done"
    retry = decide(policy, 1, fail, 100.0, 0.5)
    assert (retry.status, retry.next_attempt_at) == ("pending", 101.0)
    assert decide(policy, 2, fail, 100.0, 0.5).status == "pending"
    assert decide(policy, 3, fail, 100.0, 0.5).status == "dead"
    gone = decide(policy, 1, AttemptOutcome(False, 410, "HTTP 410", gone=True), 100.0, 0.5)
    assert (gone.status, gone.disable_subscriber) == ("dead", True)


def test_durations_and_bad_policies_are_checked():
    """Durations take ms, s, m, h, d; negative delays and absurd budgets are INVALID_INPUT."""
    assert [parse_duration(t) for t in ("500ms", "5s", "5m", "2h", "1d", "3")] == [
        0.5,
        5,
        300,
        7200,
        86400,
        3,
    ]
    for bad in ("", "5 minutes", "-1s"):
        with pytest.raises(InvalidInputError):
            parse_duration(bad)
    with pytest.raises(InvalidInputError):
        RetryPolicy(max_retries=101)
    with pytest.raises(InvalidInputError):
        RetryPolicy(backoff_ms=(-1,))
