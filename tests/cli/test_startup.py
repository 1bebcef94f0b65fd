"""Start-up stays cheap: the CLI imports heavy modules only where they are used."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import cli_env

HEAVY = (
    "rich",
    "httpx",
    "httpcore",
    "pydantic",
    "cryptography",
    "keyring",
    "questionary",
    "sqlite_utils",
    "psycopg",
    "jsonschema",
    "starlette",
    "uvicorn",
    "anyio",
    "tomli_w",
)

_PROBE = """
import atexit, json, sys
def report():
    sys.stderr.write("MODULES=" + json.dumps(sorted(m.split(".")[0] for m in sys.modules)) + "\\n")
atexit.register(report)
sys.argv = ["cuervo-fabric", *{args!r}]
from cuervo_fabric.cli.main import main
main()
"""


def loaded_modules(home: Path, *args: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE.format(args=list(args))],
        env=cli_env(home),
        capture_output=True,
        text=True,
        check=False,
    )
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("MODULES="))
    return set(json.loads(line.removeprefix("MODULES=")))


def test_importing_the_cli_loads_no_heavy_module() -> None:
    """`import cuervo_fabric.cli.main` pulls in typer and our own light modules only."""
    code = "import sys, json, cuervo_fabric.cli.main; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {m.split(".")[0] for m in json.loads(out.stdout)}
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_connector_list_json_stays_light(home: Path) -> None:
    """`connector list --json` opens SQLite but never imports rich, httpx, crypto or pydantic."""
    loaded = loaded_modules(home, "--json", "connector", "list")
    assert "sqlite3" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_help_stays_light(home: Path) -> None:
    """`--help` needs rich for rendering (as any Typer app does) but nothing else heavy."""
    loaded = loaded_modules(home, "--help")
    assert not loaded & (set(HEAVY) - {"rich"}), sorted(loaded & set(HEAVY))
