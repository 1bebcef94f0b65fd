"""Configuration: TOML profiles, environment overrides, and `config show|set|profiles`."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import cli_env
from tests.helpers import cli


def test_defaults_without_a_config_file(home: Path) -> None:
    """No file: profile local, tenant default, everything under CUERVO_FABRIC_HOME."""
    data = cli("--json", "config", "show").json()
    assert data["profile"] == "local"
    assert data["tenant"] == "default"
    assert data["configFile"] == str(home / "config.toml")
    assert data["sources"]["tenant"] == "profile:local"


def test_set_writes_valid_toml_and_profiles_apply(home: Path) -> None:
    """config set creates profiles; --profile and default_profile select them."""
    assert cli("config", "set", "profiles.ci.tenant", "ci-tenant").exit_code == 0
    assert cli("config", "set", "vault.strict", "true").exit_code == 0
    raw = tomllib.loads((home / "config.toml").read_text())
    assert raw == {"profiles": {"ci": {"tenant": "ci-tenant"}}, "vault": {"strict": True}}
    assert cli("--json", "--profile", "ci", "config", "show").json()["tenant"] == "ci-tenant"
    assert cli("config", "set", "default_profile", "ci").exit_code == 0
    shown = cli("--json", "config", "show").json()
    assert (shown["profile"], shown["tenant"], shown["vault"]["strict"]) == ("ci", "ci-tenant", True)
    names = {p["name"]: p["active"] for p in cli("--json", "config", "profiles").json()}
    assert names == {"local": False, "ci": True}


def test_environment_overrides_the_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CUERVO_FABRIC_TENANT beats the profile; a flag beats the environment."""
    cli("config", "set", "profiles.local.tenant", "from-file")
    monkeypatch.setenv("CUERVO_FABRIC_TENANT", "from-env")
    assert cli("--json", "config", "show").json()["tenant"] == "from-env"
    assert cli("--json", "--tenant", "from-flag", "config", "show").json()["tenant"] == "from-flag"


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("vault.strict", "maybe", "vault.strict"),
        ("colour", "red", "colour"),
        ("profiles.x.type", "cloud", "profiles.x.type"),
        ("profiles.x.tenant", "a b", "tenant"),
        ("default_profile", "nope", "default_profile"),
    ],
)
def test_bad_config_set_changes_nothing(home: Path, key: str, value: str, field: str) -> None:
    """An invalid key or value is refused and the file stays as it was."""
    cli("config", "set", "profiles.local.tenant", "t1")
    before = (home / "config.toml").read_bytes()
    res = cli("--json", "config", "set", key, value)
    assert res.exit_code in (2, 3)
    assert res.error["field"] == field
    assert (home / "config.toml").read_bytes() == before


def test_unknown_profile_is_not_found(home: Path) -> None:
    """--profile naming no profile is NOT_FOUND."""
    res = cli("--json", "--profile", "ghost", "connector", "list")
    assert res.exit_code == 3
    assert res.error["code"] == "NOT_FOUND"


def test_unknown_keys_in_the_file_are_refused(home: Path) -> None:
    """A config file with an unknown key fails every command with INVALID_INPUT naming it."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text('[profiles.local]\ncolour = "red"\n')
    res = cli("--json", "connector", "list")
    assert res.exit_code == 2
    assert res.error["field"] == "profiles.local.colour"


def test_profile_with_its_own_database(home: Path, tmp_path: Path) -> None:
    """A profile's `database` points the CLI at another SQLite file."""
    other = tmp_path / "other.db"
    cli("config", "set", "profiles.other.database", str(other))
    res = cli("--json", "--profile", "other", "connector", "install", "http", "--set", "base_url=http://x")
    assert res.exit_code == 0
    assert other.exists()
    assert cli("--json", "connector", "list").json() == []
    assert len(cli("--json", "--profile", "other", "connector", "list").json()) == 1


def test_version_and_module_entry_point(home: Path) -> None:
    """`python -m cuervo_fabric --version` prints the installed version."""
    out = subprocess.run(
        [sys.executable, "-m", "cuervo_fabric", "--version"],
        env=cli_env(home),
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("cuervo-fabric ")
