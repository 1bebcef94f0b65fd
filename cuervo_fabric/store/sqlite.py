"""``SqliteStore``: the embedded default, one WAL-mode file shared safely by many processes.

Every CLI call is a new process, so cross-process state changes are single conditional
statements or ``BEGIN IMMEDIATE`` transactions; the busy timeout makes writers queue instead of
failing.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from cuervo_fabric.domain.models import ConnectorInstance, ConnectorSpec, InstanceStatus
from cuervo_fabric.domain.timeutil import now_iso
from cuervo_fabric.errors import InternalError, InvalidInputError
from cuervo_fabric.ports import CredentialRecord
from cuervo_fabric.store._rows import (
    INSTANCE_COLUMNS,
    changed_since,
    dumps,
    instance_changes_to_columns,
    instance_from_row,
    instance_to_row,
    registry_row,
    retired_key_error,
)
from cuervo_fabric.store.migrations import migrations

__all__ = ["SqliteStore", "key_state"]

BUSY_TIMEOUT_S = 30.0
#: The WAL-index header: two copies of 48 bytes at the start of the ``-shm`` file.
_WAL_INDEX_HEADER = 96
_SELECT_INSTANCE = f"SELECT {', '.join(INSTANCE_COLUMNS)} FROM connector_instances"


class SqliteStore:
    """The SQLite adapter of the ``Store`` port."""

    backend = "sqlite"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(
                str(self.path),
                timeout=BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise InternalError(f"cannot open the store at {self.path}: {exc}") from exc
        self.conn.row_factory = sqlite3.Row
        self.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self._migrate()

    # ------------------------------------------------------------------ plumbing
    def close(self) -> None:
        if self._wal_index is not None:
            self._wal_index.close()
            self._wal_index = None
        self.conn.close()

    _wal_index: mmap.mmap | None = None
    _wal_index_tried = False

    def change_marker(self) -> object:
        """A value that stays equal while nothing in the database changed, whoever wrote.

        It is the WAL-index header, which every commit of every connection rewrites (the first 96
        bytes of the ``-shm`` file: two copies of one 48-byte header, see
        https://www.sqlite.org/walformat.html), read through a memory map, with this connection's
        ``total_changes`` for its own uncommitted writes. Reading it costs no SQL. Where there is
        no ``-shm`` file to map, ``PRAGMA data_version`` (one statement) stands in.
        """
        if not self._wal_index_tried:
            self._wal_index_tried = True
            try:
                with open(f"{self.path}-shm", "rb") as fh:
                    self._wal_index = mmap.mmap(fh.fileno(), _WAL_INDEX_HEADER, access=mmap.ACCESS_READ)
            except (OSError, ValueError):  # no shared-memory file (or too short yet)
                self._wal_index = None
        index = self._wal_index
        if index is None:
            return (self.conn.execute("PRAGMA data_version").fetchone()[0], self.conn.total_changes)
        header = index[:48]
        if header != index[48:_WAL_INDEX_HEADER]:  # a commit is rewriting it: that is a change
            return object()
        return (header, self.conn.total_changes)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` (or join the transaction already open on this connection).

        Taking the write lock up front makes read-then-write atomic across processes.
        """
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _migrate(self) -> None:
        steps = migrations("sqlite")
        latest = steps[-1][0] if steps else 0
        current = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if current == latest:
            return
        if current > latest:
            raise InternalError(
                f"the store at {self.path} has schema version {current}, newer than this "
                f"cuervo-fabric knows ({latest}); upgrade cuervo-fabric"
            )
        mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":  # pragma: no cover - e.g. a network filesystem
            raise InternalError(f"the store at {self.path} cannot use WAL mode ({mode})")
        with self.transaction() as conn:
            # Re-read under the write lock: another process may have migrated meanwhile.
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            for version, _name, sql in steps:
                if version <= current:
                    continue
                for statement in _split_sql(sql):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version}")

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    # ------------------------------------------------------------------ registry
    def sync_registry(self, specs: Sequence[ConnectorSpec]) -> None:
        now = now_iso()
        with self.transaction() as conn:
            for spec in specs:
                row = registry_row(spec, now)
                cols = ", ".join(row)
                marks = ", ".join("?" for _ in row)
                updates = ", ".join(f"{c} = excluded.{c}" for c in row if c not in ("id", "created_at"))
                conn.execute(
                    f"INSERT INTO connector_registry ({cols}) VALUES ({marks}) "
                    f"ON CONFLICT(id) DO UPDATE SET {updates}",
                    tuple(row.values()),
                )

    def list_registry(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM connector_registry ORDER BY id").fetchall()
        return [dict(r) for r in rows]

    # ------------------------------------------------------------------ instances
    def insert_instance(self, instance: ConnectorInstance) -> None:
        row = instance_to_row(instance)
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        try:
            self.conn.execute(
                f"INSERT INTO connector_instances ({cols}) VALUES ({marks})", tuple(row.values())
            )
        except sqlite3.IntegrityError as exc:
            raise InvalidInputError(
                f"an instance named {instance.name!r} already exists in tenant "
                f"{instance.tenant_id!r}; choose another --name",
                details={"field": "name"},
            ) from exc

    def get_instance(self, tenant_id: str, instance_id: str) -> ConnectorInstance | None:
        row = self.conn.execute(
            f"{_SELECT_INSTANCE} WHERE tenant_id = ? AND id = ?", (tenant_id, instance_id)
        ).fetchone()
        return instance_from_row(dict(row)) if row else None

    def list_instances(self, tenant_id: str, *, include_uninstalled: bool = False) -> list[ConnectorInstance]:
        sql = f"{_SELECT_INSTANCE} WHERE tenant_id = ?"
        if not include_uninstalled:
            sql += " AND status <> 'uninstalled'"
        rows = self.conn.execute(sql + " ORDER BY installed_at, id", (tenant_id,)).fetchall()
        return [instance_from_row(dict(r)) for r in rows]

    def update_instance(
        self,
        tenant_id: str,
        instance_id: str,
        changes: dict[str, Any],
        *,
        expected_status: InstanceStatus | None = None,
    ) -> ConnectorInstance | None:
        columns = instance_changes_to_columns(changes)
        if not columns:
            return self.get_instance(tenant_id, instance_id)
        sets = ", ".join(f"{c} = ?" for c in columns)
        params: list[Any] = [*columns.values(), tenant_id, instance_id]
        where = "tenant_id = ? AND id = ?"
        if expected_status is not None:
            where += " AND status = ?"
            params.append(str(expected_status))
        try:
            row = self.conn.execute(
                f"UPDATE connector_instances SET {sets} WHERE {where} "
                f"RETURNING {', '.join(INSTANCE_COLUMNS)}",
                params,
            ).fetchone()
        except sqlite3.IntegrityError as exc:
            raise InvalidInputError(
                "another live instance in this tenant already has that name",
                details={"field": "name"},
            ) from exc
        return instance_from_row(dict(row)) if row else None

    def purge_instance_data(self, tenant_id: str, instance_id: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "DELETE FROM connector_credentials WHERE tenant_id = ? AND instance_id = ?",
                (tenant_id, instance_id),
            )
            for table in _instance_owned_tables(conn):
                conn.execute(
                    f"DELETE FROM {table} WHERE tenant_id = ? AND instance_id = ?",
                    (tenant_id, instance_id),
                )

    # ------------------------------------------------------------------ credentials
    @contextlib.contextmanager
    def fenced(self, key_id: str) -> Iterator[sqlite3.Connection]:
        """A write transaction for a secret sealed with ``key_id``, fenced by the vault's key state.

        Under the write lock, so a rotation commits wholly before or wholly after it: a key a
        rotation retired is refused (``AuthFailedError``, ``reason="master_key_retired"``) and
        nothing is written; when no key is current yet, ``key_id`` becomes the current one.
        """
        with self.transaction() as conn:
            current, retired = key_state(conn, key_id)
            if key_id in retired:
                raise retired_key_error(key_id, current)
            if current is None or current in retired:
                conn.execute(
                    "INSERT INTO vault_state (id, current_key_id) VALUES (1, ?)"
                    " ON CONFLICT(id) DO UPDATE SET current_key_id = excluded.current_key_id",
                    (key_id,),
                )
            yield conn

    def put_credential(self, record: CredentialRecord) -> None:
        with self.fenced(record.encryption_key_id) as conn:
            conn.execute(
                "INSERT INTO connector_credentials (id, instance_id, tenant_id, credential_type,"
                " encrypted_data, wrapped_key, encryption_key_id, expires_at, refreshed_at,"
                " created_at, metadata) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(tenant_id, instance_id) DO UPDATE SET"
                " credential_type = excluded.credential_type, encrypted_data = excluded.encrypted_data,"
                " wrapped_key = excluded.wrapped_key, encryption_key_id = excluded.encryption_key_id,"
                " expires_at = excluded.expires_at, refreshed_at = excluded.refreshed_at,"
                " metadata = excluded.metadata",
                (
                    uuid.uuid4().hex,
                    record.instance_id,
                    record.tenant_id,
                    record.credential_type,
                    record.encrypted_data,
                    record.wrapped_key,
                    record.encryption_key_id,
                    record.expires_at,
                    record.refreshed_at,
                    record.created_at,
                    dumps(record.metadata or {}),
                ),
            )

    def get_credential(self, tenant_id: str, instance_id: str) -> CredentialRecord | None:
        row = self.conn.execute(
            "SELECT * FROM connector_credentials WHERE tenant_id = ? AND instance_id = ?",
            (tenant_id, instance_id),
        ).fetchone()
        return _credential(dict(row)) if row else None

    def delete_credentials(self, tenant_id: str, instance_id: str) -> int:
        cur = self.conn.execute(
            "DELETE FROM connector_credentials WHERE tenant_id = ? AND instance_id = ?",
            (tenant_id, instance_id),
        )
        return cur.rowcount

    def iter_all_credentials(self) -> Iterator[CredentialRecord]:
        for row in self.conn.execute("SELECT * FROM connector_credentials ORDER BY id").fetchall():
            yield _credential(dict(row))

    def replace_credentials(
        self,
        records: Sequence[CredentialRecord],
        *,
        also: Callable[[], None] | None = None,
        expected: Mapping[tuple[str, str], bytes] | None = None,
        rotation: tuple[str, str | None] | None = None,
    ) -> list[CredentialRecord]:
        with self.transaction() as conn:
            if expected is not None:
                rows = conn.execute("SELECT * FROM connector_credentials ORDER BY id").fetchall()
                changed = changed_since([_credential(dict(r)) for r in rows], expected)
                if changed:
                    return changed  # nothing written: the caller re-wraps these and tries again
            if also is not None:
                also()
            for r in records:
                guard: str = ""
                params: tuple[bytes | None, ...] = ()
                if expected is not None:
                    guard, params = " AND wrapped_key = ?", (expected.get((r.tenant_id, r.instance_id)),)
                conn.execute(
                    "UPDATE connector_credentials SET encrypted_data = ?, wrapped_key = ?,"
                    " encryption_key_id = ? WHERE tenant_id = ? AND instance_id = ?" + guard,
                    (
                        r.encrypted_data,
                        r.wrapped_key,
                        r.encryption_key_id,
                        r.tenant_id,
                        r.instance_id,
                        *params,
                    ),
                )
            if rotation is not None:
                old_id, new_id = rotation
                current, _ = key_state(conn, old_id)
                retire = {old_id} | ({current} if current is not None and current != new_id else set())
                conn.executemany(
                    "INSERT INTO vault_retired_keys (key_id, retired_at) VALUES (?, ?)"
                    " ON CONFLICT(key_id) DO NOTHING",
                    [(k, now_iso()) for k in sorted(retire - {new_id})],
                )
                if new_id is not None:
                    conn.execute(
                        "INSERT INTO vault_state (id, current_key_id) VALUES (1, ?)"
                        " ON CONFLICT(id) DO UPDATE SET current_key_id = excluded.current_key_id",
                        (new_id,),
                    )
        return []

    def vault_key_state(self) -> tuple[str | None, frozenset[str]]:
        row = self.conn.execute("SELECT current_key_id FROM vault_state WHERE id = 1").fetchone()
        retired = self.conn.execute("SELECT key_id FROM vault_retired_keys").fetchall()
        return (row[0] if row else None), frozenset(r[0] for r in retired)

    # ------------------------------------------------------------------ refresh locks
    def try_refresh_lock(
        self, tenant_id: str, instance_id: str, holder: str, until: float, now: float
    ) -> bool:
        cur = self.conn.execute(
            "INSERT INTO gw_refresh_locks (tenant_id, instance_id, holder, locked_until)"
            " VALUES (?, ?, ?, ?) ON CONFLICT(tenant_id, instance_id) DO UPDATE SET"
            " holder = excluded.holder, locked_until = excluded.locked_until"
            " WHERE gw_refresh_locks.locked_until < ? OR gw_refresh_locks.holder = excluded.holder",
            (tenant_id, instance_id, holder, until, now),
        )
        return cur.rowcount == 1

    def release_refresh_lock(self, tenant_id: str, instance_id: str, holder: str) -> None:
        self.conn.execute(
            "DELETE FROM gw_refresh_locks WHERE tenant_id = ? AND instance_id = ? AND holder = ?",
            (tenant_id, instance_id, holder),
        )


def key_state(conn: sqlite3.Connection, key_id: str) -> tuple[str | None, set[str]]:
    """The vault's current key id, and which of ``key_id`` and it a rotation retired."""
    row = conn.execute("SELECT current_key_id FROM vault_state WHERE id = 1").fetchone()
    current = row[0] if row else None
    retired = {
        r[0]
        for r in conn.execute(
            "SELECT key_id FROM vault_retired_keys WHERE key_id IN (?, ?)", (key_id, current or key_id)
        ).fetchall()
    }
    return current, retired


def _credential(row: dict[str, Any]) -> CredentialRecord:
    return CredentialRecord(
        instance_id=row["instance_id"],
        tenant_id=row["tenant_id"],
        credential_type=row["credential_type"],
        encrypted_data=bytes(row["encrypted_data"]),
        wrapped_key=bytes(row["wrapped_key"]),
        encryption_key_id=row["encryption_key_id"],
        expires_at=row["expires_at"],
        refreshed_at=row["refreshed_at"],
        created_at=row["created_at"],
        metadata=json.loads(row["metadata"]) if row["metadata"] else {},
    )


def _instance_owned_tables(conn: sqlite3.Connection) -> list[str]:
    """Tables added by later migrations that carry ``tenant_id`` and ``instance_id``."""
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'gw_%'"
        ).fetchall()
    ]
    out = []
    for name in names:
        cols = {r[1] for r in conn.execute(f"PRAGMA table_info({name})").fetchall()}
        if {"tenant_id", "instance_id"} <= cols:
            out.append(name)
    return out


def _split_sql(sql: str) -> list[str]:
    """Split a migration file into statements (no semicolons inside our literals)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
