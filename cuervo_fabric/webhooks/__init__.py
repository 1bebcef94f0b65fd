"""Webhooks in and out: the receiver's group-commit writer, the outgoing dispatcher, the SSRF guard."""

from __future__ import annotations

__all__: list[str] = []
