"""Versioned schema migrations, one numbered SQL file each, per backend."""

from __future__ import annotations

from pathlib import Path

__all__ = ["migrations"]

_HERE = Path(__file__).parent


def migrations(backend: str) -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` for every migration of ``backend``, in order."""
    out = []
    for path in sorted((_HERE / backend).glob("[0-9][0-9][0-9][0-9]_*.sql")):
        version = int(path.name[:4])
        out.append((version, path.stem, path.read_text(encoding="utf-8")))
    return out
