"""Every command documents itself: `--help` works and shows an example."""

from __future__ import annotations

from typing import Any

import pytest
import typer.main

from cuervo_fabric.cli.main import app
from tests.helpers import cli


def _commands() -> list[tuple[list[str], Any]]:
    out: list[tuple[list[str], Any]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            out.append((path, cmd))

    walk(typer.main.get_command(app), [])
    return out


COMMANDS = _commands()


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_has_help_with_an_example(path: list[str], cmd: Any) -> None:
    """`cuervo-fabric ... --help` exits 0 and the text shows an `Example:` line that runs cuervo-fabric."""
    examples = [ln for ln in (cmd.help or "").splitlines() if ln.strip().startswith("Example:")]
    assert any("cuervo-fabric" in ln for ln in examples), f"{' '.join(path)} has no example"
    res = cli(*path, "--help")
    assert res.exit_code == 0
    assert "Usage:" in res.stdout
