"""Retry policy: full-jitter exponential backoff (1 s, 2 s, 4 s caps; 3 retries), ``Retry-After`` first.

``set_testing(True)`` (or ``CUERVO_FABRIC_NO_SLEEP=1``) removes real sleeping, as stamina's switch
does, so fault-injection tests run instantly while still recording the waits they would have made.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = ["RetryPolicy", "parse_retry_after", "set_testing", "sleep"]

_testing = bool(os.environ.get("CUERVO_FABRIC_NO_SLEEP"))

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


def set_testing(on: bool) -> None:
    """Turn real sleeping off (tests) or back on."""
    global _testing
    _testing = on


def sleep(seconds: float) -> None:
    if seconds > 0 and not _testing:
        time.sleep(seconds)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); ``None`` if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 3
    base_s: float = 1.0
    cap_s: float = 4.0

    def backoff(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Full jitter: uniform in ``[0, min(cap, base * 2**(n-1))]`` for retry ``n`` (1-based)."""
        ceiling = min(self.cap_s, self.base_s * (2 ** (retry_number - 1)))
        return (rng or random).uniform(0, ceiling)

    @staticmethod
    def may_retry(method: str, idempotency_key: str | None) -> bool:
        """POST-like requests are retried only when the caller gave an idempotency key."""
        return method.upper() in IDEMPOTENT_METHODS or bool(idempotency_key)
