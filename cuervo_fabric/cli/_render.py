"""Rendering: rich tables for people on stdout, one JSON document for scripts, errors on stderr.

``rich`` is imported here, inside functions, and nowhere else in the CLI.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from cuervo_fabric.cli._state import state

__all__ = ["emit", "error", "info", "kv", "table", "warn"]


def _json_default(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def dump_json(value: Any) -> str:
    return json.dumps(value, default=_json_default, indent=2, sort_keys=False)


def emit(value: Any, human: Any = None) -> None:
    """Print ``value`` as JSON with ``--json``, else call ``human()`` (or print JSON-ish)."""
    if state.json:
        sys.stdout.write(dump_json(value) + "\n")
    elif human is not None:
        human()
    else:
        sys.stdout.write(dump_json(value) + "\n")


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=not stderr)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    from rich.table import Table

    t = Table(title=title, title_justify="left", header_style="bold")
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    _console().print(t)


def kv(title: str, pairs: Sequence[tuple[str, Any]]) -> None:
    from rich.table import Table

    t = Table(title=title, title_justify="left", show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column(overflow="fold")
    for key, value in pairs:
        if isinstance(value, dict | list):
            value = json.dumps(value, default=_json_default)
        t.add_row(key, "" if value is None else str(value))
    _console().print(t)


def info(message: str) -> None:
    """A line for people: stdout in human mode, stderr with --json (stdout stays one document)."""
    if state.json:
        sys.stderr.write(message + "\n")
    else:
        sys.stdout.write(message + "\n")


def warn(message: str) -> None:
    sys.stderr.write(message + "\n")


def error(payload: dict[str, Any]) -> None:
    """Report a failure: ``{"error": ...}`` on stdout with --json, a line on stderr otherwise."""
    if state.json:
        sys.stdout.write(dump_json({"error": payload}) + "\n")
    else:
        sys.stderr.write(f"Error [{payload['code']}]: {payload['message']}\n")
