"""The key fence: a credential written while ``vault rotate-key`` runs elsewhere is never lost.

Two ways a writer (a token refresh, an ``auth login``) used to lose a credential to a rotation in
another process: committing *after* it (sealed with the retired key nobody holds any more), and
committing *between* the rotation's read and its commit (overwritten by the re-wrapped stale row).
Real stores on both backends, real vaults on a key file or ``CUERVO_FABRIC_KEY``, real processes.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
from psycopg import sql

from cuervo_fabric.bootstrap import Fabric
from cuervo_fabric.config import load_settings
from cuervo_fabric.domain.models import ConnectorInstance
from cuervo_fabric.errors import AuthFailedError, FabricTimeoutError
from cuervo_fabric.ports import CredentialRecord, Store
from cuervo_fabric.services.credentials import CredentialService
from cuervo_fabric.store.postgres import PostgresStore
from cuervo_fabric.vault.local import LocalVault
from tests.conftest import cli_env
from tests.contract.backends import PG_URL, Backend, backend, pg_schema, schema_url
from tests.contract.factories import make_instance
from tests.vault.conftest import NO_KEYRING, run

__all__ = ["backend", "pg_schema"]  # fixtures used here

NEW_KEY = b"n" * 32


@pytest.fixture
def key_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The vault's key lives in a file (no CUERVO_FABRIC_KEY): a process can read it again."""
    monkeypatch.delenv("CUERVO_FABRIC_KEY")
    return home / "master.key"


def _vault(key_file: Path) -> LocalVault:
    return LocalVault(key_file, insecure_storage=True, warn=lambda m: None)


def _installed(store: Store, name: str = "work") -> ConnectorInstance:
    inst = make_instance(name=name, auth_type="bearer_token")
    store.insert_instance(inst)
    return inst


def _opened(backend: Backend, key_file: Path, inst: ConnectorInstance) -> dict[str, Any]:
    """What a process started now (a fresh vault on a fresh connection) reads."""
    return CredentialService(backend.open(), _vault(key_file)).load(inst)


def test_a_writer_holding_the_retired_key_reseals_under_the_new_one(backend: Backend, key_file: Path) -> None:
    """The rotation commits while a writer still holds the old key: the store refuses the old-key
    record (nothing written), the writer reads the new key from the file, seals again, and the
    credential opens afterwards with the writer's value."""
    writer_store = backend.open()
    inst = _installed(writer_store)
    writer = CredentialService(writer_store, _vault(key_file))
    writer.save(inst, {"token": "v1"})
    before = writer_store.get_credential(inst.tenant_id, inst.id)
    assert before is not None
    old_id = before.encryption_key_id
    assert writer_store.vault_key_state() == (old_id, frozenset())  # the first write made it current

    result = CredentialService(backend.open(), _vault(key_file)).rotate_master_key()
    assert result.rewrapped == 1
    assert writer_store.vault_key_state() == (result.new_key_id, frozenset({old_id}))
    assert writer.vault.key_info().key_id == old_id  # the writer still holds the retired key

    # The fence itself: a record sealed with the retired key is refused and nothing is written.
    rotated = writer_store.get_credential(inst.tenant_id, inst.id)
    with pytest.raises(AuthFailedError) as refused:
        writer_store.put_credential(before)
    assert refused.value.details == {
        "reason": "master_key_retired",
        "keyId": old_id,
        "currentKeyId": result.new_key_id,
    }
    assert writer_store.get_credential(inst.tenant_id, inst.id) == rotated

    writer.save(inst, {"token": "v2"})
    after = writer_store.get_credential(inst.tenant_id, inst.id)
    assert after is not None
    assert after.encryption_key_id == result.new_key_id
    assert writer.vault.key_info().key_id == result.new_key_id
    assert _opened(backend, key_file, inst) == {"token": "v2"}


def test_a_writer_on_the_env_key_is_told_to_restart_with_the_new_key(
    backend: Backend, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CUERVO_FABRIC_KEY cannot change under a running process: its save after a rotation fails
    with AUTH_FAILED saying what to do, and the rotated credential is left as it was."""
    store = backend.open()
    inst = _installed(store)
    writer = CredentialService(store, LocalVault(home / "master.key"))
    writer.save(inst, {"token": "v1"})
    result = CredentialService(backend.open(), LocalVault(home / "master.key")).rotate_master_key(NEW_KEY)
    rotated = store.get_credential(inst.tenant_id, inst.id)

    with pytest.raises(AuthFailedError) as refused:
        writer.save(inst, {"token": "v2"})
    assert "set CUERVO_FABRIC_KEY to the new key and restart this process" in refused.value.message
    assert refused.value.details["currentKeyId"] == result.new_key_id
    assert store.get_credential(inst.tenant_id, inst.id) == rotated

    monkeypatch.setenv("CUERVO_FABRIC_KEY", base64.b64encode(NEW_KEY).decode())
    restarted = CredentialService(backend.open(), LocalVault(home / "master.key"))
    assert restarted.load(inst) == {"token": "v1"}
    restarted.save(inst, {"token": "v2"})
    assert restarted.load(inst) == {"token": "v2"}


class _WritesAfterRead:
    """A real store whose next read of every credential (the rotation's) is followed by ``write``:
    another process committing between the rotation's read and its commit."""

    def __init__(self, store: Store, write: Callable[[], None]) -> None:
        self._store = store
        self._write: Callable[[], None] | None = write

    def iter_all_credentials(self) -> Iterator[CredentialRecord]:
        rows = list(self._store.iter_all_credentials())
        if self._write is not None:
            write, self._write = self._write, None
            write()
        return iter(rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_a_write_between_the_rotations_read_and_commit_survives(backend: Backend, key_file: Path) -> None:
    """A refresh of one credential and a first login of another land after the rotation read the
    credentials: the compare-and-swap sees both, the rotation re-wraps them (it still holds the old
    key) and commits again. Both open afterwards, with exactly what the writer saved."""
    store = backend.open()
    refreshed = _installed(store, "refreshed")
    added = _installed(store, "added")
    writer = CredentialService(backend.open(), _vault(key_file))
    writer.save(refreshed, {"access_token": "at-1", "refresh_token": "rt-1"})

    def other_process_writes() -> None:
        writer.save(refreshed, {"access_token": "at-2", "refresh_token": "rt-2"})
        writer.save(added, {"token": "first-login"})

    rotating = CredentialService(cast(Store, _WritesAfterRead(backend.open(), other_process_writes)),
                                 _vault(key_file))  # fmt: skip
    result = rotating.rotate_master_key()

    assert result.rewrapped == 2  # the one it read, and the one added under it
    for inst in (refreshed, added):
        record = store.get_credential(inst.tenant_id, inst.id)
        assert record is not None
        assert record.encryption_key_id == result.new_key_id
    assert _opened(backend, key_file, refreshed) == {"access_token": "at-2", "refresh_token": "rt-2"}
    assert _opened(backend, key_file, added) == {"token": "first-login"}
    assert store.vault_key_state() == (result.new_key_id, frozenset({result.old_key_id}))


def test_a_writer_during_an_interrupted_rotation_seals_with_the_pending_key(
    backend: Backend, key_file: Path
) -> None:
    """The rotation committed (the old key is retired) but crashed before promoting its pending
    key: a writer finds the pending key beside the stored one, seals with it, and the next
    rotation finishes the job with every credential readable."""
    store = backend.open()
    inst = _installed(store)
    writer = CredentialService(backend.open(), _vault(key_file))
    writer.save(inst, {"token": "v1"})
    old_id = writer.vault.key_info().key_id

    class Crash(Exception):
        pass

    def commit_then_crash(records: list[CredentialRecord]) -> None:
        store.replace_credentials(records, expected=None, rotation=(old_id, records[0].encryption_key_id))
        raise Crash

    crashing = _vault(key_file)
    with pytest.raises(Crash):
        crashing.rotate(list(store.iter_all_credentials()), commit_then_crash)
    pending_id, retired = store.vault_key_state()
    assert retired == {old_id}
    assert pending_id != old_id
    assert (key_file.parent / "master.key.next").exists()

    writer.save(inst, {"token": "v2"})
    record = store.get_credential(inst.tenant_id, inst.id)
    assert record is not None
    assert record.encryption_key_id == pending_id
    assert _opened(backend, key_file, inst) == {"token": "v2"}  # the pending key is tried too

    finished = CredentialService(backend.open(), _vault(key_file)).rotate_master_key()
    assert not (key_file.parent / "master.key.next").exists()
    assert _opened(backend, key_file, inst) == {"token": "v2"}
    assert store.vault_key_state()[0] == finished.new_key_id


# ---------------------------------------------------------------------- real processes
WRITER = """
import sys, time
from pathlib import Path
from cuervo_fabric.bootstrap import Fabric
from cuervo_fabric.config import load_settings

fabric = Fabric(load_settings(profile=sys.argv[1] or None), insecure_storage=True)
inst = next(i for i in fabric.store.list_instances(fabric.tenant) if i.name == "api")
stop, n = Path(sys.argv[2]), 0
while True:
    last = stop.exists()  # one more save after the stop file: it starts after every rotation
    n += 1
    fabric.credentials.save(inst, {"token": f"tok-{n}"})
    print(n, fabric.vault.key_info().key_id, flush=True)
    if last:
        break
    time.sleep(0.01)
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def profile(request: pytest.FixtureRequest, home: Path) -> str:
    """The backend as a profile name ('' = the default SQLite profile)."""
    if request.param == "sqlite":
        return ""
    schema = request.getfixturevalue("pg_schema")
    set_url = run(home, "config", "set", "profiles.pg.database_url", schema_url(schema), key=None)
    assert set_url.returncode == 0, set_url.stderr
    return "pg"


def test_a_writer_process_racing_rotate_key_processes_loses_nothing(
    home: Path, profile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One process saves a new token every few milliseconds while three ``vault rotate-key``
    processes run one after another (key file: the writer can read the new key). The writer never
    fails, ends on the final key, and its last token is what the credential holds."""
    scope = ["--profile", profile] if profile else []
    installed = run(home, *scope, "connector", "install", "http", "--name", "api", "--set",
                    "base_url=http://127.0.0.1:9", "--set", "auth_type=bearer_token", key=None)  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    login = run(home, *scope, "auth", "login", "api", "--with-token", input="tok-0\n", key=None)
    assert login.returncode == 0, login.stderr

    env = cli_env(home, **NO_KEYRING)
    env.pop("CUERVO_FABRIC_KEY")
    stop = home / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, profile, str(stop)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert writer.stdout is not None
        first = writer.stdout.readline().split()  # it is writing before the first rotation starts
        assert first, writer.stderr.read() if writer.stderr else ""
        new_ids = []
        for _ in range(3):
            rotated = run(home, *scope, "--json", "vault", "rotate-key", key=None)
            assert rotated.returncode == 0, rotated.stdout + rotated.stderr
            new_ids.append(json.loads(rotated.stdout)["newKeyId"])
        stop.touch()
        out, err = writer.communicate(timeout=60)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert writer.returncode == 0, err
    lines = [first, *(line.split() for line in out.splitlines())]
    last_n, last_key = lines[-1]
    assert first[1] not in new_ids
    assert last_key == new_ids[-1]  # its last save sealed with the final key

    status = json.loads(run(home, *scope, "--json", "vault", "status", key=None).stdout)
    assert (status["keyId"], status["unreadable"], status["credentials"]) == (new_ids[-1], 0, 1)
    shown = run(home, *scope, "--json", "auth", "status", "api", key=None)
    assert shown.returncode == 0
    assert json.loads(shown.stdout)["keyAvailable"] is True
    monkeypatch.delenv("CUERVO_FABRIC_KEY")  # this process reads the key file too
    fresh = _vault(home / "master.key")
    fabric = Fabric(load_settings(profile=profile or None), insecure_storage=True)
    try:
        inst = next(i for i in fabric.store.list_instances(fabric.tenant) if i.name == "api")
        assert CredentialService(fabric.store, fresh).load(inst) == {"token": f"tok-{last_n}"}
    finally:
        fabric.store.close()


def test_rotation_gives_up_cleanly_when_credentials_never_stop_changing(
    backend: Backend, key_file: Path
) -> None:
    """A credential rewritten before every commit attempt: the rotation stops after a bounded
    number of rounds with a retryable TIMEOUT, commits nothing and keeps the old key working."""
    store = backend.open()
    inst = _installed(store)
    writer = CredentialService(backend.open(), _vault(key_file))
    writer.save(inst, {"token": "v0"})
    old = key_file.read_text()
    rounds = iter(range(1, 100))

    class RewritesBeforeEveryCommit(_WritesAfterRead):
        def replace_credentials(self, *args: Any, **kwargs: Any) -> list[CredentialRecord]:
            writer.save(inst, {"token": f"v{next(rounds)}"})
            return cast(list[CredentialRecord], self._store.replace_credentials(*args, **kwargs))

    rotating = CredentialService(cast(Store, RewritesBeforeEveryCommit(backend.open(), lambda: None)),
                                 _vault(key_file))  # fmt: skip
    with pytest.raises(FabricTimeoutError) as gave_up:
        rotating.rotate_master_key()
    assert gave_up.value.retryable
    assert "kept changing" in gave_up.value.message
    assert key_file.read_text() == old
    state = store.vault_key_state()
    assert state[1] == frozenset()
    assert _opened(backend, key_file, inst) == {"token": "v5"}
    # The next rotation (nobody writing) succeeds and the leftover pending key is dropped.
    result = CredentialService(backend.open(), _vault(key_file)).rotate_master_key()
    assert result.rewrapped == 1
    assert _opened(backend, key_file, inst) == {"token": "v5"}


@pytest.mark.postgres
def test_tenant_sessions_may_read_the_key_state_but_never_write_it(pg_schema: str) -> None:
    """The fence is platform state: ``cuervo_app`` (every tenant session) reads it, only the owner
    (key rotation, the fenced write's lock) changes it."""
    PostgresStore(schema_url(pg_schema)).close()
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(pg_schema)))
        conn.execute("SET ROLE cuervo_app")
        assert conn.execute("SELECT id, current_key_id FROM vault_state").fetchall() == [(1, None)]
        assert conn.execute("SELECT count(*) FROM vault_retired_keys").fetchone() == (0,)
        for statement in (
            "UPDATE vault_state SET current_key_id = 'k_mine'",
            "SELECT current_key_id FROM vault_state FOR SHARE",
            "INSERT INTO vault_retired_keys (key_id) VALUES ('k_other')",
            "DELETE FROM vault_retired_keys",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
