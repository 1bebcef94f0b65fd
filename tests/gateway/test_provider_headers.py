"""Each provider's rate-limit headers become remaining/reset figures and, when exhausted, a block."""

from __future__ import annotations

import time
from email.utils import formatdate
from pathlib import Path

from cuervo_fabric.gateway.ratelimit_headers import (
    SECONDARY_LIMIT_WAIT_S,
    parse_duration,
    parse_provider_limits,
    rate_limit_wait,
)
from cuervo_fabric.testing import LoopbackServer, Reply
from tests.gateway.conftest import install
from tests.helpers import cli

NOW = 1_800_000_000.0


def test_github_headers_give_remaining_and_epoch_reset() -> None:
    """GitHub: x-ratelimit-* with the reset in epoch seconds and the resource name."""
    headers = {
        "X-RateLimit-Limit": "5000",
        "X-RateLimit-Remaining": "4987",
        "X-RateLimit-Used": "13",
        "X-RateLimit-Reset": str(int(NOW) + 1200),
        "X-RateLimit-Resource": "core",
    }
    (lim,) = parse_provider_limits(headers, NOW)
    assert (lim.source, lim.resource, lim.limit, lim.remaining) == ("github", "core", 5000, 4987)
    assert lim.reset_at == NOW + 1200


def test_github_403_with_remaining_zero_is_the_primary_limit() -> None:
    """A 403 with x-ratelimit-remaining 0 waits until the reset, and is not a permission error."""
    headers = {
        "x-ratelimit-remaining": "0",
        "x-ratelimit-limit": "60",
        "x-ratelimit-reset": str(int(NOW) + 900),
    }
    wait, block = rate_limit_wait(403, headers, '{"message": "API rate limit exceeded"}', NOW)
    assert wait == 900
    assert block.blocked_until == NOW + 900
    assert "remaining 0" in (block.reason or "")
    assert rate_limit_wait(403, {"x-ratelimit-remaining": "59"}, '{"message": "Forbidden"}', NOW) is None


def test_github_secondary_limit_uses_retry_after_or_one_minute() -> None:
    """Secondary limits: Retry-After when given, else at least a minute (GitHub's documented rule)."""
    body = '{"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}'
    wait, block = rate_limit_wait(403, {"x-ratelimit-remaining": "4000"}, body, NOW)
    assert wait == SECONDARY_LIMIT_WAIT_S
    assert "secondary" in (block.reason or "")
    wait, _ = rate_limit_wait(429, {"Retry-After": "17"}, body, NOW)
    assert wait == 17


def test_jira_reset_is_iso_8601() -> None:
    """Jira: X-RateLimit-Reset is an ISO-8601 time; 429 carries Retry-After."""
    headers = {
        "X-RateLimit-Limit": "100",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "2027-01-15T08:00:30Z",
    }
    (lim,) = parse_provider_limits(headers, NOW)
    assert lim.source == "jira"
    assert lim.reset_at == NOW + 30
    wait, block = rate_limit_wait(429, {**headers, "Retry-After": "5"}, "", NOW)
    assert wait == 5
    assert block.blocked_until == NOW + 5


def test_slack_retry_after_on_429() -> None:
    """Slack: a 429 with Retry-After in seconds, no other header."""
    wait, block = rate_limit_wait(429, {"Retry-After": "30"}, '{"ok": false, "error": "ratelimited"}', NOW)
    assert wait == 30
    assert block.blocked_until == NOW + 30
    assert parse_provider_limits({"Retry-After": "30"}, NOW) == []


def test_retry_after_as_http_date() -> None:
    """Retry-After may be an HTTP date."""
    wait, _ = rate_limit_wait(429, {"Retry-After": formatdate(NOW + 90, usegmt=True)}, "", NOW)
    assert 89 <= wait <= 90


def test_openai_durations() -> None:
    """OpenAI: per requests and tokens, resets as durations like 6m0s and 20ms."""
    assert parse_duration("6m0s") == 360
    assert parse_duration("1s") == 1
    assert parse_duration("20ms") == 0.02
    assert parse_duration("1h2m3.5s") == 3723.5
    assert parse_duration("soon") is None
    headers = {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-reset-requests": "120ms",
        "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-tokens": "29000",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    by = {lim.resource: lim for lim in parse_provider_limits(headers, NOW)}
    assert by["requests"].remaining == 499
    assert abs(by["requests"].reset_at - (NOW + 0.12)) < 1e-6
    assert by["tokens"].limit == 30000
    assert by["tokens"].reset_at == NOW + 360
    assert {lim.source for lim in by.values()} == {"openai"}


def test_anthropic_rfc3339_resets() -> None:
    """Anthropic: anthropic-ratelimit-{requests,tokens,...}-{limit,remaining,reset}, RFC 3339."""
    headers = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2027-01-15T08:01:00Z",
        "anthropic-ratelimit-output-tokens-limit": "8000",
        "anthropic-ratelimit-output-tokens-remaining": "7000",
        "anthropic-ratelimit-output-tokens-reset": "2027-01-15T08:00:10+00:00",
        "retry-after": "60",
    }
    by = {lim.resource: lim for lim in parse_provider_limits(headers, NOW)}
    assert by["requests"].remaining == 0
    assert by["requests"].reset_at == 1_800_000_060.0
    assert by["output-tokens"].reset_at == 1_800_000_010.0
    wait, block = rate_limit_wait(429, headers, "", NOW)
    assert wait == 60
    assert block.source == "anthropic"


def test_ietf_ratelimit_fields_all_drafts() -> None:
    """IETF: RateLimit + RateLimit-Policy (structured fields), the combined form, separate fields."""
    sf = parse_provider_limits(
        {"RateLimit-Policy": '"burst";q=100;w=60', "RateLimit": '"burst";r=42;t=30'}, NOW
    )
    assert [(x.source, x.resource, x.limit, x.remaining, x.reset_at) for x in sf] == [
        ("ietf", "burst", 100, 42, NOW + 30)
    ]
    combined = parse_provider_limits({"RateLimit": "limit=100, remaining=7, reset=12"}, NOW)
    assert [(x.limit, x.remaining, x.reset_at) for x in combined] == [(100, 7, NOW + 12)]
    separate = parse_provider_limits(
        {"RateLimit-Limit": "10", "RateLimit-Remaining": "0", "RateLimit-Reset": "9"}, NOW
    )
    assert [(x.limit, x.remaining, x.reset_at) for x in separate] == [(10, 0, NOW + 9)]
    wait, _ = rate_limit_wait(429, {"RateLimit-Remaining": "0", "RateLimit-Reset": "9"}, "", NOW)
    assert wait == 9


def test_gitlab_ratelimit_reset_is_an_epoch_time() -> None:
    """GitLab sends RateLimit-Reset as epoch seconds: it is read as an instant, not a delay."""
    at = int(NOW) + 40
    limits = parse_provider_limits(
        {"RateLimit-Limit": "600", "RateLimit-Remaining": "0", "RateLimit-Reset": str(at)}, NOW
    )
    assert [(x.limit, x.remaining, x.reset_at) for x in limits] == [(600, 0, at)]


def test_a_plain_403_or_error_is_not_a_rate_limit() -> None:
    """Only 403/429 can be rate limits; a 429 without any hint says nothing to store."""
    assert rate_limit_wait(500, {"Retry-After": "3"}, "", NOW) is None
    assert rate_limit_wait(403, {}, '{"message": "Resource not accessible by integration"}', NOW) is None
    assert rate_limit_wait(429, {}, "", NOW) is None


def test_github_403_remaining_zero_through_exec(home: Path, server: LoopbackServer) -> None:
    """Through the pipeline: RATE_LIMITED (external) until the reset, and the next call stays home."""
    reset = int(time.time()) + 900
    server.route(
        "GET",
        "/repos",
        Reply(403, {"message": "API rate limit exceeded for user ID 1."},
              {"x-ratelimit-remaining": "0", "x-ratelimit-limit": "5000", "x-ratelimit-reset": str(reset),
               "x-ratelimit-resource": "core"}),
    )  # fmt: skip
    install("gh", server.url)
    first = cli("--json", "exec", "gh", "request", "-p", "path=/repos").json()
    assert first["error"]["code"] == "RATE_LIMITED"
    assert first["error"]["limitType"] == "external"
    assert 880_000 < first["error"]["retryAfterMs"] <= 900_000
    assert first["metadata"]["rateLimitRemaining"] == 0
    second = cli("--json", "exec", "gh", "request", "-p", "path=/repos").json()
    assert second["error"]["limitType"] == "external"
    assert second["metadata"]["apiCalls"] == 0
    assert len(server.calls("GET", "/repos")) == 1


def test_github_secondary_limit_through_exec(home: Path, server: LoopbackServer) -> None:
    """A 403 secondary limit without retry-after waits a minute; a plain 403 stays PERMISSION_DENIED."""
    server.route("GET", "/search", Reply(403, {"message": "You have exceeded a secondary rate limit."}))
    server.route("GET", "/private", Reply(403, {"message": "Must have admin rights to Repository."}))
    install("gh", server.url)
    denied = cli("--json", "exec", "gh", "request", "-p", "path=/private").json()
    assert denied["error"]["code"] == "PERMISSION_DENIED"
    limited = cli("--json", "exec", "gh", "request", "-p", "path=/search").json()
    assert limited["error"]["code"] == "RATE_LIMITED"
    assert limited["error"]["retryAfterMs"] == 60_000
    assert "secondary" in limited["error"]["rateLimit"]
