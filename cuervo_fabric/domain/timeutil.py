"""Timestamps: ISO-8601 UTC text with microseconds and a ``Z`` (sortable as text)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["iso", "now_iso", "parse_iso"]


def iso(epoch_seconds: float) -> str:
    """Format epoch seconds as ``2026-11-26T09:34:48.123456Z``."""
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_iso() -> str:
    return iso(time.time())


def parse_iso(text: str) -> float:
    """Parse an ISO-8601 time (``Z`` or an offset) into epoch seconds."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()
