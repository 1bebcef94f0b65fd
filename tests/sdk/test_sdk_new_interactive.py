"""On a terminal, `sdk new` asks (questionary) for what its options leave open."""

from __future__ import annotations

import sys
from pathlib import Path

import pexpect

from tests.conftest import cli_env


def test_sdk_new_asks_for_template_category_vendor_and_description(home: Path, tmp_path: Path) -> None:
    """Arrow keys pick oauth2, defaults are accepted with Enter, typed text lands in the project."""
    env = cli_env(home)
    env.pop("CI", None)
    env["TERM"] = "xterm"
    target = tmp_path / "asked"
    child = pexpect.spawn(
        sys.executable,
        ["-m", "cuervo_fabric", "sdk", "new", "asked-demo", "--dir", str(target)],
        env=env,
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 200),
    )
    child.expect("Template")
    child.send("\x1b[B")  # down: oauth2
    child.send("\r")
    child.expect("Category")
    child.send("\r")  # the default: custom
    child.expect("Vendor")
    child.send("\r")  # the default: the display name
    child.expect("description")
    child.send("\x15")  # Ctrl-U clears the suggested text, as a person would
    child.sendline("Demo answers typed at the prompt")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    connector = (target / "cuervo_fabric_asked_demo" / "connector.py").read_text()
    assert 'auth_types = ("oauth2",)' in connector
    assert "ConnectorCategory.CUSTOM" in connector
    assert 'vendor="Asked Demo"' in connector
    assert 'description="Demo answers typed at the prompt"' in connector
