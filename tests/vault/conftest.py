"""Fixtures of the vault tests: a token-checking API and CLI runners with or without a key."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cuervo_fabric.testing import LoopbackServer, RecordedRequest, Reply
from tests.conftest import CLI, cli_env
from tests.helpers import cli, db_snapshot

#: keyring's own "no backend" backend: a machine without any OS keyring, even on a desktop.
NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def run(home: Path, *args: str, input: str | None = None, key: str | None = "test", **env: str) -> Any:
    """The CLI as a subprocess. ``key=None``: no CUERVO_FABRIC_KEY and no keyring backend."""
    full = cli_env(home, **env)
    if key is None:
        full.pop("CUERVO_FABRIC_KEY", None)
        full.update(NO_KEYRING)
    elif key != "test":
        full["CUERVO_FABRIC_KEY"] = key
    return subprocess.run(
        [*CLI, *args], env=full, input=input, capture_output=True, text=True, timeout=60, check=False
    )


def error_of(result: Any) -> dict[str, Any]:
    return dict(json.loads(result.stdout)["error"])


@pytest.fixture
def api() -> Iterator[LoopbackServer]:
    """Answers 200 with the bearer token it got (so a test can see which token was used)."""
    with LoopbackServer() as server:

        def echo(req: RecordedRequest) -> Reply:
            return Reply(200, {"authorization": req.headers.get("authorization")})

        server.route("GET", "/", echo)
        server.route("GET", "/who", echo)
        yield server


def install_token(name: str, url: str, token: str, *, tenant: str | None = None) -> None:
    """An ``http`` bearer-token instance logged in with ``token`` (in-process CLI)."""
    scope = ["--tenant", tenant] if tenant else []
    result = cli(*scope, "--json", "connector", "install", "http", "--name", name,
                 "--set", f"base_url={url}", "--set", "auth_type=bearer_token")  # fmt: skip
    assert result.exit_code == 0, result.stdout
    result = cli(*scope, "--json", "auth", "login", name, "--with-token", input=token + "\n")
    assert result.exit_code == 0, result.stdout


def vault_state(home: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The rows a vault failure must never touch: credentials, instances, refresh leases."""
    keep = ("connector_credentials", "connector_instances", "gw_refresh_locks")
    return {table: rows for table, rows in db_snapshot(home).items() if table in keep}
