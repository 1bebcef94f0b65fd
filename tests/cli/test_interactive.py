"""On a terminal, `install` asks for missing required settings with questionary."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pexpect

from tests.conftest import cli_env
from tests.helpers import cli


def test_install_prompts_for_missing_required_settings(home: Path) -> None:
    """A missing base_url is asked for on a TTY, validated, and the instance is installed."""
    env = cli_env(home)
    env.pop("CI", None)
    env["TERM"] = "xterm"
    child = pexpect.spawn(
        sys.executable,
        ["-m", "cuervo_fabric", "connector", "install", "http", "--name", "asked"],
        env=env,
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 200),
    )
    child.expect("base_url")
    child.sendline("http://127.0.0.1:8123")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    shown = cli("--json", "connector", "show", "asked").json()
    assert shown["settings"]["base_url"] == "http://127.0.0.1:8123"


def test_no_input_never_prompts_even_on_a_tty(home: Path) -> None:
    """--no-input on a terminal fails fast with INVALID_INPUT naming the missing field."""
    env = cli_env(home)
    env.pop("CI", None)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "cuervo_fabric", "--json", "--no-input", "connector", "install", "http"],
        env=env,
        encoding="utf-8",
        timeout=30,
    )
    child.expect(pexpect.EOF)
    output = child.before
    child.close()
    assert child.exitstatus == 2
    body = json.loads(output[output.index("{") :])
    assert body["error"]["field"] == "base_url"
