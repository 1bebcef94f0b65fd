"""Shell completion scripts are generated from the app and kept current in completions/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cuervo_fabric.cli.completion import SHELLS, script_for
from tests.helpers import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("shell", SHELLS)
def test_committed_completion_scripts_are_current(shell: str) -> None:
    """completions/cuervo-fabric.<shell> equals what `cuervo-fabric completion <shell>` prints."""
    committed = (ROOT / "completions" / f"cuervo-fabric.{shell}").read_text()
    assert committed == script_for(shell), (
        f"regenerate: cuervo-fabric completion {shell} > completions/cuervo-fabric.{shell}"
    )
    assert cli("completion", shell).stdout == committed


def test_unknown_shell_is_invalid_input() -> None:
    """An unsupported shell is INVALID_INPUT."""
    res = cli("--json", "completion", "tcsh")
    assert res.exit_code == 2
    assert res.error["code"] == "INVALID_INPUT"


def test_bash_completion_answers_from_the_app() -> None:
    """The program answers a bash completion request with its command names."""
    env = dict(
        os.environ, COMP_WORDS="cuervo-fabric conn", COMP_CWORD="1", _CUERVO_FABRIC_COMPLETE="complete_bash"
    )
    out = subprocess.run(
        [sys.executable, "-m", "cuervo_fabric"], env=env, capture_output=True, text=True, check=False
    )
    assert "connector" in out.stdout.split()
