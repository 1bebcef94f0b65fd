"""``FakeClock``: time that moves only when a test (or a sleep) moves it."""

from __future__ import annotations

__all__ = ["FakeClock"]


class FakeClock:
    """A clock for tests: ``sleep`` returns at once and moves time forward; nothing else moves it.

    It has the shape of the fabric's ``Clock`` port (``now``, ``monotonic``, ``sleep``), so it plugs
    into ``retry(clock=...)``, ``poll_until(clock=...)`` and anything else that takes a clock.

    Args:
        start: the wall-clock time to start at, in seconds since the epoch.

    Attributes:
        sleeps: every ``sleep`` duration asked for, in order.

    Example:
        >>> from cuervo_fabric.testing import FakeClock
        >>> clock = FakeClock()
        >>> clock.sleep(2.5)
        >>> clock.advance(0.5)
        >>> clock.monotonic(), clock.sleeps
        (3.0, [2.5])
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._wall = start
        self._mono = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        """Seconds since the epoch, as the fake clock reads them."""
        return self._wall

    def monotonic(self) -> float:
        """Seconds since the clock was made (moved only by ``sleep`` and ``advance``)."""
        return self._mono

    def sleep(self, seconds: float) -> None:
        """Record ``seconds`` and move time forward by it, without waiting."""
        if seconds < 0:
            raise ValueError("cannot sleep a negative time")
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (a test saying "an hour later").

        Example:
            >>> clock = FakeClock(start=0)
            >>> clock.advance(3600)
            >>> clock.now()
            3600.0
        """
        if seconds < 0:
            raise ValueError("time does not go back")
        self._wall += seconds
        self._mono += seconds
