"""Tenant isolation: an instance of one tenant is invisible and untouchable from another."""

from __future__ import annotations

from pathlib import Path

from cuervo_fabric.errors import EXIT_CODES
from tests.helpers import cli, db_snapshot


def test_instances_are_invisible_across_tenants(home: Path) -> None:
    """list, show, pause, update, uninstall and exec in tenant b cannot see tenant a's instance."""
    res = cli(
        "--json",
        "--tenant",
        "a",
        "connector",
        "install",
        "http",
        "--name",
        "api",
        "--set",
        "base_url=http://127.0.0.1:9",
    )
    assert res.exit_code == 0, res.stdout
    iid = res.json()["instanceId"]
    assert cli("--json", "--tenant", "b", "connector", "list").json() == []
    before = db_snapshot(home)
    for args in (
        ("connector", "show", iid),
        ("connector", "show", "api"),
        ("connector", "pause", iid),
        ("connector", "update", iid, "--set", "health_path=/x"),
        ("connector", "uninstall", iid, "--yes"),
        ("auth", "login", iid),
        ("exec", iid, "request", "-p", "path=/"),
    ):
        out = cli("--json", "--tenant", "b", *args)
        assert out.exit_code == EXIT_CODES["NOT_FOUND"], (args, out.stdout)
        assert out.error["code"] == "NOT_FOUND"
    assert db_snapshot(home) == before
    assert [i["instanceId"] for i in cli("--json", "--tenant", "a", "connector", "list").json()] == [iid]


def test_same_name_in_two_tenants(home: Path) -> None:
    """Names are unique per tenant, not globally; the env var selects the tenant too."""
    for tenant in ("a", "b"):
        res = cli(
            "--json",
            "--tenant",
            tenant,
            "connector",
            "install",
            "http",
            "--name",
            "api",
            "--set",
            "base_url=http://127.0.0.1:9",
        )
        assert res.exit_code == 0
        assert res.json()["tenantId"] == tenant


def test_invalid_tenant_name_is_rejected(home: Path) -> None:
    """A tenant name with spaces or slashes is INVALID_INPUT."""
    res = cli("--json", "--tenant", "a/b", "connector", "list")
    assert res.exit_code == 2
    assert res.error["code"] == "INVALID_INPUT"
