"""Project-only helpers for tests: run the CLI in-process and snapshot the store."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from cuervo_fabric.cli.main import app

__all__ = ["CliResult", "cli", "db_snapshot", "instance_row"]

_runner = CliRunner()


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def error(self) -> dict[str, Any]:
        return dict(self.json()["error"])


def cli(*args: str, input: str | None = None) -> CliResult:
    """Run ``cuervo-fabric ARGS`` in-process (no TTY, so never interactive)."""
    result = _runner.invoke(app, list(args), input=input, catch_exceptions=False)
    return CliResult(result.exit_code, result.stdout, result.stderr)


def db_snapshot(home: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the SQLite store, in a stable order (empty tables omitted)."""
    path = home / "fabric.db"
    if not path.exists():
        return {}
    conn = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                " ORDER BY name"
            )
        ]
        snap = {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
        return {t: rows for t, rows in snap.items() if rows}
    finally:
        conn.close()


def instance_row(home: Path, name: str) -> dict[str, Any]:
    conn = sqlite3.connect(home / "fabric.db")
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute(
            "SELECT * FROM connector_instances WHERE display_name = ? ORDER BY installed_at DESC", (name,)
        ).fetchone()
        return dict(row)
    finally:
        conn.close()
