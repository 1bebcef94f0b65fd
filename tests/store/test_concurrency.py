"""Real processes sharing one store: SQLite in WAL mode with a busy timeout, and PostgreSQL.

Every CLI call is its own process, so these tests start real ``cuervo-fabric`` subprocesses at once
and check what users would see: no "database is locked", exactly one winner of a race, a
consistent final row.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cuervo_fabric.errors import EXIT_CODES
from tests.conftest import CLI, cli_env
from tests.contract.backends import require_postgres, schema_url
from tests.helpers import cli

pytestmark = pytest.mark.slow

BASE_URL = "base_url=http://127.0.0.1:1"


def run_all(
    home: Path, commands: list[list[str]], timeout: float = 120
) -> list[subprocess.CompletedProcess[str]]:
    """Start every command at once, then wait for all of them."""
    procs = [
        subprocess.Popen(
            [*CLI, *args],
            env=cli_env(home),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    ]
    out = []
    for p, args in zip(procs, commands, strict=True):
        stdout, stderr = p.communicate(timeout=timeout)
        out.append(subprocess.CompletedProcess(args, p.returncode, stdout, stderr))
    return out


def ok_json(*args: str) -> Any:
    res = cli("--json", *args)
    assert res.exit_code == 0, res.stdout + res.stderr
    return res.json()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def profile(request: pytest.FixtureRequest, home: Path) -> list[str]:
    """Global options selecting the backend: the default SQLite profile, or a ``pg`` profile."""
    if request.param == "sqlite":
        return []
    schema = request.getfixturevalue("pg_schema")
    res = cli("config", "set", "profiles.pg.database_url", schema_url(schema))
    assert res.exit_code == 0, res.stdout + res.stderr
    return ["--profile", "pg"]


def test_processes_installing_at_once_share_one_sqlite_file(home: Path) -> None:
    """Eight processes install into a fresh store at once: all succeed, none sees a locked database."""
    names = [f"svc{i}" for i in range(8)]
    results = run_all(
        home, [["--json", "connector", "install", "http", "--name", n, "--set", BASE_URL] for n in names]
    )
    for res in results:
        assert res.returncode == 0, res.stderr
        assert "locked" not in res.stderr
        assert json.loads(res.stdout)["status"] == "installed"
    listed = ok_json("connector", "list")
    assert sorted(i["name"] for i in listed) == names
    assert len({i["instanceId"] for i in listed}) == 8


def test_racing_pauses_have_exactly_one_winner(home: Path, profile: list[str]) -> None:
    """Six processes pause one active instance at once: one wins, five get INVALID_STATE."""
    ok_json(*profile, "connector", "install", "http", "--name", "shared", "--set", BASE_URL)
    assert cli(*profile, "auth", "login", "shared").exit_code == 0
    assert ok_json(*profile, "connector", "show", "shared")["status"] == "active"

    results = run_all(home, [["--json", *profile, "connector", "pause", "shared"] for _ in range(6)])

    winners = [r for r in results if r.returncode == 0]
    losers = [r for r in results if r.returncode != 0]
    assert len(winners) == 1, [r.stdout + r.stderr for r in results]
    for res in losers:
        assert res.returncode == EXIT_CODES["INVALID_STATE"], res.stdout + res.stderr
        assert json.loads(res.stdout)["error"]["code"] == "INVALID_STATE"
    final = ok_json(*profile, "connector", "show", "shared")
    assert final == json.loads(winners[0].stdout)
    assert final["status"] == "paused"
    assert final["statusReason"].startswith("paused by ")


@pytest.mark.postgres
def test_lifecycle_end_to_end_on_a_postgres_profile(home: Path, pg_schema: str) -> None:
    """install, list, show, login, pause, resume, update, uninstall and tenants, all on PostgreSQL."""
    require_postgres()
    assert cli("config", "set", "profiles.pg.database_url", schema_url(pg_schema)).exit_code == 0
    pg = ["--profile", "pg"]

    inst = ok_json(*pg, "connector", "install", "http", "--name", "api", "--set", BASE_URL)
    assert inst["status"] == "installed"
    assert [i["name"] for i in ok_json(*pg, "connector", "list")] == ["api"]
    assert ok_json("connector", "list") == [], "the default (SQLite) profile must not see it"
    assert ok_json(*pg, "--tenant", "other", "connector", "list") == []
    hidden = cli("--json", *pg, "--tenant", "other", "connector", "pause", "api")
    assert hidden.error["code"] == "NOT_FOUND"

    assert cli(*pg, "auth", "login", "api").exit_code == 0
    assert ok_json(*pg, "connector", "show", "api")["status"] == "active"
    assert ok_json(*pg, "connector", "pause", "api")["status"] == "paused"
    refused = cli("--json", *pg, "connector", "pause", "api")
    assert refused.error["code"] == "INVALID_STATE"
    assert ok_json(*pg, "connector", "resume", "api")["status"] == "active"
    updated = ok_json(*pg, "connector", "update", "api", "--set", "base_url=http://127.0.0.1:2")
    assert updated["settings"]["base_url"] == "http://127.0.0.1:2"

    dup = cli("--json", *pg, "connector", "install", "http", "--name", "api", "--set", BASE_URL)
    assert dup.error["code"] == "INVALID_INPUT"
    assert dup.error["field"] == "name"

    gone = ok_json(*pg, "connector", "uninstall", "api", "--yes")
    assert gone["status"] == "uninstalled"
    assert ok_json(*pg, "connector", "list") == []
    again = ok_json(*pg, "connector", "install", "http", "--name", "api", "--set", BASE_URL)
    assert again["instanceId"] != inst["instanceId"]

    # The same profile from a real subprocess (a fresh interpreter, as users run it).
    res = subprocess.run(
        [*CLI, "--json", *pg, "connector", "list"],
        env=cli_env(home),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert [i["instanceId"] for i in json.loads(res.stdout)] == [again["instanceId"]]
