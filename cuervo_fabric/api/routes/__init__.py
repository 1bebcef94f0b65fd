"""HTTP routes, one module per noun."""

from __future__ import annotations

__all__: list[str] = []
