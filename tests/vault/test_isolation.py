"""ADR-IF05: a credential belongs to one tenant and one instance; no other can read it.

Tenant and instance ids are bound into the encryption as associated data, so even a row copied or
moved in the database by hand (or by a bug) fails to decrypt anywhere else.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cuervo_fabric.testing import LoopbackServer
from tests.helpers import cli
from tests.vault.conftest import install_token


def _ids(home: Path) -> dict[tuple[str, str], str]:
    conn = sqlite3.connect(home / "fabric.db")
    try:
        return {
            (t, n): i
            for i, t, n in conn.execute("SELECT id, tenant_id, display_name FROM connector_instances")
        }
    finally:
        conn.close()


def _sql(home: Path, statement: str, params: tuple[object, ...]) -> None:
    conn = sqlite3.connect(home / "fabric.db")
    try:
        conn.execute(statement, params)
        conn.commit()
    finally:
        conn.close()


def _who(name: str, tenant: str) -> tuple[int, str]:
    result = cli("--tenant", tenant, "--json", "exec", name, "request", "-p", "path=/who")
    data = result.json()
    if result.exit_code == 0:
        return 0, str(data["data"]["body"]["authorization"])
    return result.exit_code, str(data["error"]["message"])


def test_a_row_copied_to_another_tenant_does_not_decrypt(home: Path, api: LoopbackServer) -> None:
    """Copying tenant A's sealed secret over tenant B's: B's call fails AUTH_FAILED; A is unaffected."""
    install_token("api", api.url, "token-of-a", tenant="tenant-a")
    install_token("api", api.url, "token-of-b", tenant="tenant-b")
    ids = _ids(home)
    _sql(
        home,
        "UPDATE connector_credentials SET (encrypted_data, wrapped_key) = (SELECT encrypted_data, wrapped_key"
        " FROM connector_credentials WHERE instance_id = ?) WHERE instance_id = ?",
        (ids[("tenant-a", "api")], ids[("tenant-b", "api")]),
    )
    code, message = _who("api", "tenant-b")
    assert code == 7
    assert "cannot decrypt" in message
    assert _who("api", "tenant-a") == (0, "Bearer token-of-a")


def test_a_row_moved_to_another_instance_does_not_decrypt(home: Path, api: LoopbackServer) -> None:
    """Re-pointing a sealed row at another instance of the same tenant fails to decrypt there."""
    install_token("one", api.url, "token-of-one")
    install_token("two", api.url, "token-of-two")
    ids = _ids(home)
    _sql(home, "DELETE FROM connector_credentials WHERE instance_id = ?", (ids[("default", "two")],))
    _sql(
        home,
        "UPDATE connector_credentials SET instance_id = ? WHERE instance_id = ?",
        (ids[("default", "two")], ids[("default", "one")]),
    )
    code, message = _who("two", "default")
    assert code == 7
    assert "cannot decrypt" in message


def test_another_tenant_cannot_even_see_the_credential(home: Path, api: LoopbackServer) -> None:
    """Queries are tenant-scoped: tenant B finds no instance and no credential of tenant A."""
    install_token("api", api.url, "token-of-a", tenant="tenant-a")
    result = cli("--tenant", "tenant-b", "--json", "auth", "status", "api")
    assert result.exit_code == 3
    assert result.error["code"] == "NOT_FOUND"
    assert cli("--tenant", "tenant-b", "--json", "auth", "status").json() == []
