"""Malformed input gets a stable code, a message naming the problem, and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from cuervo_fabric.errors import EXIT_CODES
from tests.helpers import cli, db_snapshot


def refused(home: Path, *args: str, code: str = "INVALID_INPUT") -> dict:
    before = db_snapshot(home)
    res = cli("--json", *args)
    assert res.exit_code == EXIT_CODES[code], res.stdout + res.stderr
    assert db_snapshot(home) == before
    assert "Traceback" not in res.stdout + res.stderr
    return res.error


def test_unknown_connector(home: Path) -> None:
    """Installing a connector the registry does not know is NOT_FOUND and lists what exists."""
    err = refused(home, "connector", "install", "nope", code="NOT_FOUND")
    assert "nope" in err["message"]
    assert "http" in err["message"]


@pytest.mark.parametrize("pair", ["base_url", "=x", ""])
def test_bad_set_syntax(home: Path, pair: str) -> None:
    """--set without KEY=VALUE is INVALID_INPUT naming the flag."""
    err = refused(home, "connector", "install", "http", "--set", pair)
    assert "--set" in err["message"]


def test_missing_required_setting_names_the_field(home: Path) -> None:
    """A missing required setting fails without prompting (no TTY) and names it."""
    err = refused(home, "connector", "install", "http")
    assert err["field"] == "base_url"


def test_unknown_setting_names_the_field(home: Path) -> None:
    """A setting the schema does not declare is refused."""
    err = refused(home, "connector", "install", "http", "--set", "base_url=http://x", "--set", "colour=red")
    assert err["field"] == "colour"


def test_wrong_type_in_config_file(home: Path, tmp_path: Path) -> None:
    """A wrongly typed value in --config FILE.toml names the field."""
    f = tmp_path / "settings.toml"
    f.write_text("base_url = 42\n")
    err = refused(home, "connector", "install", "http", "--config", str(f))
    assert err["field"] == "base_url"
    assert "string" in err["message"]


def test_wrong_type_from_the_command_line(home: Path) -> None:
    """--set values are coerced to the schema's type; impossible coercions are refused."""
    err = refused(home, "connector", "install", "github", "--set", "per_page=many")
    assert err["field"] == "per_page"
    assert "integer" in err["message"]
    err = refused(home, "connector", "install", "github", "--set", "per_page=500")
    assert err["field"] == "per_page"
    err = refused(home, "connector", "install", "github", "--set", "scopes=[not json")
    assert err["field"] == "scopes"
    err = refused(
        home, "connector", "install", "http", "--set", "base_url=http://x", "--set", "auth_type=magic"
    )
    assert err["field"] == "auth_type"


def test_broken_toml_settings_file(home: Path, tmp_path: Path) -> None:
    """A --config file that is not TOML is INVALID_INPUT."""
    f = tmp_path / "broken.toml"
    f.write_text("base_url = [unterminated\n")
    err = refused(home, "connector", "install", "http", "--config", str(f))
    assert "not valid TOML" in err["message"]


def test_broken_config_file(home: Path) -> None:
    """A broken config.toml makes every command fail cleanly with INVALID_INPUT."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("default_profile = \n")
    err = refused(home, "connector", "list")
    assert "config.toml" in err["message"]


def test_ambiguous_instance_reference(home: Path) -> None:
    """A connector id that matches two instances is refused, listing both."""
    for name in ("one", "two"):
        assert (
            cli("connector", "install", "http", "--name", name, "--set", "base_url=http://x").exit_code == 0
        )
    err = refused(home, "connector", "pause", "http")
    assert "matches 2 instances" in err["message"]
    assert len(err["matches"]) == 2


def test_unknown_instance(home: Path) -> None:
    """An INSTANCE that matches nothing is NOT_FOUND."""
    refused(home, "connector", "show", "ghost", code="NOT_FOUND")


def test_duplicate_name(home: Path) -> None:
    """Two live instances cannot share a name in one tenant."""
    assert cli("connector", "install", "http", "--name", "api", "--set", "base_url=http://x").exit_code == 0
    err = refused(home, "connector", "install", "http", "--name", "api", "--set", "base_url=http://y")
    assert err["field"] == "name"


def test_invalid_instance_name(home: Path) -> None:
    """Instance names are limited to a safe alphabet."""
    err = refused(home, "connector", "install", "http", "--name", "a b", "--set", "base_url=http://x")
    assert err["field"] == "name"


def test_bad_exec_params(home: Path) -> None:
    """exec --params must be a JSON object; a missing action parameter is named before any call."""
    assert (
        cli("connector", "install", "http", "--name", "api", "--set", "base_url=http://127.0.0.1:9").exit_code
        == 0
    )
    assert cli("auth", "login", "api").exit_code == 0
    res = cli("--json", "exec", "api", "request", "--params", "[1, 2]")
    assert res.exit_code == 2
    assert res.error["code"] == "INVALID_INPUT"
    res = cli("--json", "exec", "api", "request")
    assert res.exit_code == 2
    assert res.json()["error"]["field"] == "path"
    res = cli("--json", "exec", "api", "nope")
    assert res.json()["error"]["code"] == "UNKNOWN_ACTION"
    assert res.exit_code == EXIT_CODES["UNKNOWN_ACTION"]


def test_usage_errors_exit_2() -> None:
    """A click usage error (bad option value) exits 2 and, with --json, prints an error document."""
    res = cli("--json", "connector", "install", "http", "--requests-per-minute", "abc")
    assert res.exit_code == 2
    assert res.error["code"] == "INVALID_INPUT"
