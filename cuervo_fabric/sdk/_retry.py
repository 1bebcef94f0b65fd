"""Retry helpers for connector logic above single HTTP requests.

The gateway already retries each HTTP request (full-jitter backoff, ``Retry-After``, idempotency
rules). These helpers are for what it cannot see: a multi-step operation that should be tried
again as a whole, or polling until a provider catches up (a dispatched CI run that appears a few
seconds later). Both honour ``CUERVO_FABRIC_NO_SLEEP``/test mode like the gateway, and take a
``clock`` (``cuervo_fabric.testing.FakeClock`` in tests).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from cuervo_fabric.errors import FabricError, FabricTimeoutError

__all__ = ["RetryClock", "is_retryable", "poll_until", "retry"]

T = TypeVar("T")


class RetryClock(Protocol):
    """What the retry helpers need of a clock: a monotonic reading and a way to wait.

    Example:
        >>> from cuervo_fabric.testing import FakeClock
        >>> clock: RetryClock = FakeClock()
    """

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class _SystemClock:
    """Real time; in test mode sleeps are skipped but still counted, so deadlines still pass."""

    def __init__(self) -> None:
        self._skipped = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self._skipped

    def sleep(self, seconds: float) -> None:
        from cuervo_fabric.gateway import retry as policy

        # The gateway's test switch (``set_testing`` / CUERVO_FABRIC_NO_SLEEP) applies here too.
        if getattr(policy, "_testing", False):
            self._skipped += max(0.0, seconds)
        else:
            policy.sleep(seconds)


def is_retryable(exc: BaseException) -> bool:
    """Whether trying again may help: a ``FabricError`` marked retryable.

    ``RATE_LIMITED``, ``TIMEOUT``, ``CIRCUIT_OPEN`` and 5xx ``UPSTREAM_ERROR`` are retryable;
    caller errors (``INVALID_INPUT``, ``NOT_FOUND``, ...) and ``AUTH_FAILED`` are not.

    Example:
        >>> from cuervo_fabric.sdk import RateLimitedError, NotFoundError, is_retryable
        >>> is_retryable(RateLimitedError("slow down")), is_retryable(NotFoundError("gone"))
        (True, False)
    """
    return isinstance(exc, FabricError) and exc.retryable


def retry(
    fn: Callable[[], T],
    *,
    attempts: int = 3,
    when: Callable[[BaseException], bool] = is_retryable,
    base_s: float = 1.0,
    cap_s: float = 4.0,
    clock: RetryClock | None = None,
) -> T:
    """Call ``fn`` until it succeeds, up to ``attempts`` times, with full-jitter backoff.

    A ``FabricError`` with ``retry_after_ms`` waits at least that long. The last error is raised
    unchanged, so its stable code reaches the caller.

    Args:
        fn: the operation (no arguments; use a lambda or ``functools.partial``).
        attempts: total tries, at least 1.
        when: which errors are worth another try (default: ``is_retryable``).
        base_s: the first backoff ceiling; it doubles each retry.
        cap_s: the largest backoff ceiling.
        clock: where to wait (default: real time, skipped in test mode).

    Returns:
        What ``fn`` returned.

    Example:
        >>> from cuervo_fabric.sdk import retry
        >>> def create_and_label(self, params):  # doctest: +SKIP
        ...     issue = self.http.post("/issues", json=params).json()
        ...     retry(lambda: self.http.put(f"/issues/{issue['id']}/labels", json=["bug"]))
        ...     return issue
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    wait_on = clock or _SystemClock()
    for n in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if n == attempts or not when(exc):
                raise
            ceiling = min(cap_s, base_s * 2 ** (n - 1))
            wait = random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography
            after = getattr(exc, "retry_after_ms", None)
            if isinstance(after, int):
                wait = max(wait, after / 1000)
            wait_on.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def poll_until(
    fn: Callable[[], T],
    done: Callable[[T], bool],
    *,
    interval_s: float = 1.0,
    timeout_s: float = 30.0,
    clock: RetryClock | None = None,
) -> T:
    """Call ``fn`` every ``interval_s`` until ``done(result)``; ``TIMEOUT`` after ``timeout_s``.

    Args:
        fn: reads the current state.
        done: says whether that state is final.
        interval_s: seconds between reads.
        timeout_s: give up (``FabricTimeoutError``, retryable) after this long.
        clock: where to wait (default: real time, skipped in test mode).

    Returns:
        The first result ``done`` accepted.

    Example:
        >>> from cuervo_fabric.sdk import poll_until
        >>> run = poll_until(lambda: self.http.get(f"/runs/{run_id}").json(),  # doctest: +SKIP
        ...                  lambda r: r["status"] == "completed", interval_s=5, timeout_s=600)
    """
    if interval_s <= 0:
        raise ValueError("interval_s must be positive")
    wait_on = clock or _SystemClock()
    deadline = wait_on.monotonic() + timeout_s
    while True:
        result = fn()
        if done(result):
            return result
        left = deadline - wait_on.monotonic()
        if left <= 0:
            raise FabricTimeoutError(f"the condition was not met within {timeout_s:g} s", retryable=True)
        wait_on.sleep(min(interval_s, left))
