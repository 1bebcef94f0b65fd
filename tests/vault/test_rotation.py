"""``vault rotate-key``: every data key re-wrapped, the old key opens nothing, nothing is lost."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import pytest

from cuervo_fabric.ports import CredentialRecord
from cuervo_fabric.store.sqlite import SqliteStore
from cuervo_fabric.testing import LoopbackServer
from cuervo_fabric.vault.local import LocalVault
from tests.conftest import TEST_KEY
from tests.helpers import cli
from tests.vault.conftest import error_of, install_token, run, vault_state

NEW_KEY = base64.b64encode(b"n" * 32).decode()


def _who(home: Path, name: str, *, key: str | None = "test", tenant: str = "default") -> str:
    result = run(home, "--tenant", tenant, "--json", "exec", name, "request", "-p", "path=/who", key=key)
    assert result.returncode == 0, result.stdout + result.stderr
    return str(json.loads(result.stdout)["data"]["body"]["authorization"])


def _key_ids(home: Path) -> set[str]:
    conn = sqlite3.connect(home / "fabric.db")
    try:
        return {r[0] for r in conn.execute("SELECT encryption_key_id FROM connector_credentials")}
    finally:
        conn.close()


def test_rotation_with_the_env_key_takes_the_new_key_from_stdin(home: Path, api: LoopbackServer) -> None:
    """Across tenants, every credential moves to the new key; the old key opens nothing."""
    install_token("api", api.url, "tok-a")
    install_token("api", api.url, "tok-b", tenant="acme")
    old_ids = _key_ids(home)

    refused = run(home, "--json", "vault", "rotate-key")
    assert refused.returncode == 2
    assert "--new-key-stdin" in error_of(refused)["message"]

    rotated = run(home, "--json", "vault", "rotate-key", "--new-key-stdin", input=NEW_KEY + "\n")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    result = json.loads(rotated.stdout)
    assert (result["rewrapped"], result["source"]) == (2, "env")
    assert "set CUERVO_FABRIC_KEY" in rotated.stderr
    assert _key_ids(home) == {result["newKeyId"]} != old_ids

    stale = run(home, "--json", "exec", "api", "request", "-p", "path=/who")
    assert stale.returncode == 7
    assert "sealed with master key" in error_of(stale)["message"]
    assert _who(home, "api", key=NEW_KEY) == "Bearer tok-a"
    assert _who(home, "api", key=NEW_KEY, tenant="acme") == "Bearer tok-b"


def test_rotation_of_a_file_key_replaces_the_file(home: Path, api: LoopbackServer) -> None:
    """File key: a new key file, no pending file left, the old key (as env) refused."""
    assert run(home, "connector", "install", "http", "--name", "api", "--set", f"base_url={api.url}",
               "--set", "auth_type=bearer_token", key=None).returncode == 0  # fmt: skip
    assert run(home, "auth", "login", "api", "--with-token", input="tok-f\n", key=None).returncode == 0
    old = (home / "master.key").read_text().strip()
    rotated = run(home, "--json", "vault", "rotate-key", key=None)
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    assert json.loads(rotated.stdout)["source"] == "file"
    new = (home / "master.key").read_text().strip()
    assert new != old
    assert not (home / "master.key.next").exists()
    assert _who(home, "api", key=None) == "Bearer tok-f"
    assert _who(home, "api", key=new) == "Bearer tok-f"
    assert run(home, "--json", "exec", "api", "request", "-p", "path=/", key=old).returncode == 7


def test_rotation_refuses_when_a_credential_has_a_foreign_key(home: Path, api: LoopbackServer) -> None:
    """A credential sealed with a key this vault lacks: rotation refuses and changes nothing."""
    install_token("api", api.url, "tok-1")
    other = base64.b64encode(b"x" * 32).decode()
    assert run(home, "connector", "install", "http", "--name", "api2", "--set", f"base_url={api.url}",
               "--set", "auth_type=bearer_token").returncode == 0  # fmt: skip
    assert run(home, "auth", "login", "api2", "--with-token", input="tok-2\n", key=other).returncode == 0
    before = vault_state(home)
    result = run(home, "--json", "vault", "rotate-key", "--new-key-stdin", input=NEW_KEY + "\n")
    assert result.returncode == 7
    assert "does not hold" in error_of(result)["message"]
    assert vault_state(home) == before
    assert _who(home, "api") == "Bearer tok-1"


def test_an_interrupted_rotation_loses_nothing(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash after the re-wrap committed but before the new key replaced the old one: the pending
    key still opens everything, and the next rotation finishes the job."""
    from cuervo_fabric.services.credentials import CredentialService

    monkeypatch.delenv("CUERVO_FABRIC_KEY")
    store = SqliteStore(home / "fabric.db")
    key_file = home / "master.key"
    vault = LocalVault(key_file, insecure_storage=True, warn=lambda m: None)
    cli("connector", "install", "http", "--name", "api", "--set", "base_url=http://127.0.0.1:9",
        "--set", "auth_type=bearer_token")  # fmt: skip
    inst = store.list_instances("default")[0]
    credentials = CredentialService(store, vault)
    credentials.save(inst, {"token": "survives-the-crash"})
    old_key = key_file.read_text()

    class Crash(Exception):
        pass

    def commit_then_crash(records: list[CredentialRecord]) -> None:
        store.replace_credentials(records)
        raise Crash

    with pytest.raises(Crash):
        vault.rotate(list(store.iter_all_credentials()), commit_then_crash)
    assert key_file.read_text() == old_key
    assert (home / "master.key.next").exists()

    restarted = CredentialService(store, LocalVault(key_file, insecure_storage=True, warn=lambda m: None))
    assert restarted.load(inst) == {"token": "survives-the-crash"}
    result = restarted.rotate_master_key()
    assert result.rewrapped == 1
    assert not (home / "master.key.next").exists()
    again = CredentialService(store, LocalVault(key_file, insecure_storage=True, warn=lambda m: None))
    assert again.load(inst) == {"token": "survives-the-crash"}
    store.close()


def test_rotation_with_no_credentials_just_replaces_the_key(home: Path) -> None:
    """An empty vault rotates too (nothing to re-wrap)."""
    result = run(home, "--json", "vault", "rotate-key", "--new-key-stdin", input=NEW_KEY + "\n")
    assert result.returncode == 0
    assert json.loads(result.stdout)["rewrapped"] == 0
    same = run(home, "--json", "vault", "rotate-key", "--new-key-stdin", input=TEST_KEY + "\n")
    assert same.returncode == 2


def test_rotation_rewraps_sealed_webhook_secrets_too(home: Path) -> None:
    """Webhook endpoint and subscription secrets keep opening after the master key rotates."""
    assert cli("connector", "install", "github", "--name", "gh").exit_code == 0
    first = run(home, "--json", "webhooks", "endpoints", "gh")
    assert first.returncode == 0, first.stdout + first.stderr
    endpoint_secret = json.loads(first.stdout)["secret"]
    assert cli("config", "set", "webhooks.allow_private_targets", "true").exit_code == 0
    created = run(
        home, "--json", "webhooks", "create", "--url", "http://127.0.0.1:9/in", "--events", "github.*"
    )
    assert created.returncode == 0, created.stdout + created.stderr
    sub_id = json.loads(created.stdout)["id"]

    rotated = run(home, "--json", "vault", "rotate-key", "--new-key-stdin", input=NEW_KEY + "\n")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    assert json.loads(rotated.stdout)["rewrapped"] == 2  # one endpoint, one subscription

    again = run(home, "--json", "webhooks", "endpoints", "gh", key=NEW_KEY)
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout)["secret"] == endpoint_secret
    renewed = run(home, "--json", "webhooks", "rotate-secret", sub_id, key=NEW_KEY)
    assert renewed.returncode == 0, renewed.stdout + renewed.stderr
