"""Fixtures for gateway tests: a loopback provider and instances of the generic ``http`` connector."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cuervo_fabric.testing import LoopbackServer, Reply
from tests.conftest import CLI, cli_env
from tests.contract.backends import backend, store
from tests.helpers import cli

__all__ = ["backend", "install", "result_of", "run", "server", "start", "store"]

TOKEN = "tok_gateway_s3cr3t_value"


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        srv.route("GET", "/health", Reply(200, {"ok": True}))
        yield srv


def install(name: str, url: str, *extra: str, token: str = TOKEN) -> str:
    """An ``http`` bearer-token instance, logged in (in-process CLI); returns its id."""
    res = cli("--json", "connector", "install", "http", "--name", name, "--set", f"base_url={url}",
              "--set", "auth_type=bearer_token", "--set", "health_path=/health", *extra)  # fmt: skip
    assert res.exit_code == 0, res.stdout + res.stderr
    res = cli("--json", "auth", "login", name, "--with-token", input=token + "\n")
    assert res.exit_code == 0, res.stdout + res.stderr
    return str(res.json().get("instanceId") or cli("--json", "connector", "show", name).json()["instanceId"])


def run(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """A real ``cuervo-fabric`` process."""
    return subprocess.run(
        [*CLI, *args],
        env=cli_env(home),
        input=stdin,
        text=True,
        capture_output=True,
        check=False,
        timeout=120,
    )


def start(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *args], env=cli_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def result_of(proc_out: str) -> dict[str, Any]:
    """The one JSON document ``--json exec`` prints."""
    return dict(json.loads(proc_out))
