"""``PostgresStore``: the store of the remote fabric (and of a local profile with ``database_url``).

Same semantics as ``SqliteStore``, on psycopg 3:

* **Row-level security is what isolates tenants.** Tenant-scoped work runs inside a transaction
  that first does ``SET LOCAL ROLE cuervo_app`` and ``set_config('app.current_tenant', tenant,
  true)``; ``cuervo_app`` owns nothing and is no superuser, so the ``tenant_isolation`` policies of
  the migrations apply to every statement (our ``WHERE tenant_id = ...`` clauses are a second
  fence, not the only one). Platform-wide work (the registry, key rotation) runs as the owner.
* **Migrations** are the numbered files of ``store/migrations/postgres``, recorded in
  ``schema_migrations`` and applied in one transaction under an advisory lock, so processes that
  start at once migrate exactly once.
* **Timestamps** are ``TIMESTAMPTZ``; the domain's ISO-8601 text (``...123456Z``) and the
  credentials' epoch seconds are converted on the way in and out, so callers see exactly what the
  SQLite adapter returns (both keep microseconds).
* ``schema=NAME`` in the URL's query (or the ``schema`` argument) puts everything in that schema,
  created on first use: one database can hold several fabrics, and tests isolate per worker.
"""

from __future__ import annotations

import contextlib
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

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

__all__ = ["APP_ROLE", "PostgresStore", "key_state", "split_schema"]

#: The non-owner role tenant-scoped statements run as (created by migration 0001).
APP_ROLE = "cuervo_app"
#: Key of the advisory lock that serialises migrations within one database.
MIGRATION_LOCK_KEY = 0x63756572766F  # "cuervo"
CONNECT_TIMEOUT_S = 10

_SCHEMA_OK = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_JSON_COLUMNS = frozenset(
    {"config", "granted_capabilities", "denied_capabilities", "data_scope", "rate_limits", "features"}
)
_TIME_COLUMNS = frozenset(
    {"installed_at", "updated_at", "last_health_check_at", "last_error_at", "last_activity_at"}
)
_REGISTRY_JSON = ("config_schema", "capabilities", "required_permissions")
_SELECT_INSTANCE = f"SELECT {', '.join(INSTANCE_COLUMNS)} FROM connector_instances"
_CREDENTIAL_COLUMNS = (
    "instance_id, tenant_id, credential_type, encrypted_data, wrapped_key, encryption_key_id,"
    " expires_at, refreshed_at, created_at, metadata"
)


def split_schema(database_url: str) -> tuple[str, str | None]:
    """Take the ``schema`` query parameter out of a ``postgresql://`` URL (libpq rejects it)."""
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgres", "postgresql"):
        return database_url, None
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [v for k, v in query if k == "schema"]
    rest = [(k, v) for k, v in query if k != "schema"]
    if not schemas:
        return database_url, None
    return urlunsplit(parts._replace(query=urlencode(rest))), schemas[-1]


def _redact(text: str, database_url: str) -> str:
    """Remove the URL's password from a message (libpq does not print it, but be sure)."""
    with contextlib.suppress(ValueError):
        password = urlsplit(database_url).password
        if password:
            text = text.replace(password, "***")
    return text


def _safe_url(database_url: str) -> str:
    parts = urlsplit(database_url)
    if parts.password is None:
        return database_url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# ---------------------------------------------------------------------- value conversion
def _to_dt(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInputError(f"not an ISO-8601 time: {text!r}") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _from_dt(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _epoch_to_dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _dt_to_epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _placeholder(column: str) -> str:
    return "%s::jsonb" if column in _JSON_COLUMNS else "%s"


def _param(column: str, value: Any) -> Any:
    return _to_dt(value) if column in _TIME_COLUMNS else value


def _instance(row: dict[str, Any]) -> ConnectorInstance:
    for column in _TIME_COLUMNS:
        row[column] = _from_dt(row[column])
    return instance_from_row(row)


def _credential(row: dict[str, Any]) -> CredentialRecord:
    return CredentialRecord(
        instance_id=row["instance_id"],
        tenant_id=row["tenant_id"],
        credential_type=row["credential_type"],
        encrypted_data=bytes(row["encrypted_data"]),
        wrapped_key=bytes(row["wrapped_key"]),
        encryption_key_id=row["encryption_key_id"],
        expires_at=_dt_to_epoch(row["expires_at"]),
        refreshed_at=_dt_to_epoch(row["refreshed_at"]),
        created_at=_dt_to_epoch(row["created_at"]) or 0.0,
        metadata=dict(row["metadata"] or {}),
    )


class PostgresStore:
    """The PostgreSQL adapter of the ``Store`` port.

    Args:
        database_url: a libpq URL or DSN, e.g. ``postgresql://app@db:5432/fabric?schema=prod``.
        schema: the schema to use (created if missing); overrides ``?schema=`` in the URL.
    """

    backend = "postgres"

    def __init__(self, database_url: str, *, schema: str | None = None) -> None:
        conninfo, url_schema = split_schema(database_url)
        self.schema = schema or url_schema
        if self.schema is not None and not _SCHEMA_OK.match(self.schema):
            raise InvalidInputError(
                f"invalid PostgreSQL schema name {self.schema!r}: use letters, digits and '_'",
                details={"field": "database_url"},
            )
        self.url = _safe_url(database_url)
        self._lock = threading.RLock()
        try:
            self.conn: psycopg.Connection[Any] = psycopg.connect(
                conninfo,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_S,
                application_name="cuervo-fabric",
            )
        except psycopg.Error as exc:
            raise InternalError(
                f"cannot connect to PostgreSQL at {self.url}: {_redact(str(exc), database_url)}"
            ) from exc
        try:
            if self.schema is not None:
                self.conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            self._migrate()
        except BaseException:
            self.conn.close()
            raise

    # ------------------------------------------------------------------ plumbing
    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def owner(self) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
        """A transaction as the connecting (owner) role: platform-wide work, RLS bypassed.

        Inside an open transaction (e.g. the event store's outbox) it is a savepoint that runs as
        the owner and then gives the enclosing scope its role and tenant back.
        """
        with self._scoped("none", None) as cur:
            yield cur

    @contextlib.contextmanager
    def tenant(self, tenant_id: str) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
        """A transaction as ``cuervo_app`` with ``app.current_tenant`` set: RLS applies.

        Nested in an open transaction it is a savepoint, and the enclosing scope's role and
        tenant are restored when it ends (``SET LOCAL`` would otherwise outlive it).
        """
        with self._scoped(APP_ROLE, tenant_id) as cur:
            yield cur

    @contextlib.contextmanager
    def _scoped(self, role: str, tenant_id: str | None) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
        with self._lock, self._errors():
            nested = self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
            with self.conn.transaction():
                cur = self.conn.cursor(row_factory=dict_row)
                before: dict[str, Any] | None = None
                if nested:
                    before = cur.execute(
                        "SELECT current_setting('role') AS role,"
                        " coalesce(current_setting('app.current_tenant', true), '') AS tenant"
                    ).fetchone()
                if nested or tenant_id is not None:
                    cur.execute(
                        "SELECT set_config('role', %s, true), set_config('app.current_tenant', %s, true)",
                        (role, tenant_id or ""),
                    )
                yield cur
                if before is not None:
                    # Only on success: a failure rolls the savepoint (and these settings) back.
                    cur.execute(
                        "SELECT set_config('role', %s, true), set_config('app.current_tenant', %s, true)",
                        (before["role"], before["tenant"]),
                    )

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn a lost connection into our ``InternalError``; constraint errors pass through."""
        try:
            yield
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise InternalError(f"PostgreSQL at {self.url}: {exc}") from exc

    def _applied_version(self, cur: psycopg.Cursor[dict[str, Any]]) -> int | None:
        """The newest applied migration, or ``None`` before the first one."""
        row = cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL AS present").fetchone()
        if not row or not row["present"]:
            return None
        row = cur.execute("SELECT coalesce(max(version), 0) AS v FROM schema_migrations").fetchone()
        return int(row["v"]) if row else 0

    def _migrate(self) -> None:
        steps = migrations("postgres")
        latest = steps[-1][0] if steps else 0
        with self.owner() as cur:
            current = self._applied_version(cur)
        if current is not None and current >= latest:
            self._check_not_newer(current, latest)
            return
        with self.owner() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
            if self.schema is not None:
                # Not CREATE SCHEMA IF NOT EXISTS: it needs CREATE on the database even when the
                # schema exists, and an admin may have made the schema for an owner without it.
                missing = cur.execute(
                    "SELECT to_regnamespace(quote_ident(%s)) IS NULL AS missing", (self.schema,)
                )
                row = missing.fetchone()
                if row and row["missing"]:
                    cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            # Re-read under the lock: another process may have migrated meanwhile.
            current = self._applied_version(cur) or 0
            self._check_not_newer(current, latest)
            for version, name, text in steps:
                if version <= current:
                    continue
                # No parameters: psycopg sends the whole file (DO blocks included) as one
                # simple query, inside this transaction.
                cur.execute(text.encode())
                cur.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))

    def _check_not_newer(self, current: int, latest: int) -> None:
        if current > latest:
            raise InternalError(
                f"the store at {self.url} has schema version {current}, newer than this "
                f"cuervo-fabric knows ({latest}); upgrade cuervo-fabric"
            )

    def schema_version(self) -> int:
        with self.owner() as cur:
            return self._applied_version(cur) or 0

    # ------------------------------------------------------------------ registry
    def sync_registry(self, specs: Sequence[ConnectorSpec]) -> None:
        now = _to_dt(now_iso())
        with self.owner() as cur:
            for spec in specs:
                row = registry_row(spec, "")
                row["created_at"] = row["updated_at"] = now
                cols = ", ".join(row)
                marks = ", ".join("%s::jsonb" if c in _REGISTRY_JSON else "%s" for c in row)
                updates = ", ".join(f"{c} = excluded.{c}" for c in row if c not in ("id", "created_at"))
                cur.execute(
                    f"INSERT INTO connector_registry ({cols}) VALUES ({marks}) "
                    f"ON CONFLICT (id) DO UPDATE SET {updates}",
                    tuple(row.values()),
                )

    def list_registry(self) -> list[dict[str, Any]]:
        """Rows shaped as the SQLite adapter returns them (JSON text, 0/1, ISO text)."""
        with self.owner() as cur:
            rows = cur.execute("SELECT * FROM connector_registry ORDER BY id").fetchall()
        out = []
        for row in rows:
            for column in _REGISTRY_JSON:
                row[column] = dumps(row[column])
            row["is_first_party"] = int(row["is_first_party"])
            row["created_at"] = _from_dt(row["created_at"])
            row["updated_at"] = _from_dt(row["updated_at"])
            out.append(row)
        return out

    # ------------------------------------------------------------------ instances
    def insert_instance(self, instance: ConnectorInstance) -> None:
        row = instance_to_row(instance)
        cols = ", ".join(row)
        marks = ", ".join(_placeholder(c) for c in row)
        params = [_param(c, v) for c, v in row.items()]
        try:
            with self.tenant(instance.tenant_id) as cur:
                cur.execute(f"INSERT INTO connector_instances ({cols}) VALUES ({marks})", params)
        except psycopg.errors.UniqueViolation as exc:
            if _constraint(exc) == "connector_instances_pkey":
                raise InvalidInputError(
                    f"an instance with id {instance.id!r} already exists", details={"field": "id"}
                ) from exc
            raise InvalidInputError(
                f"an instance named {instance.name!r} already exists in tenant "
                f"{instance.tenant_id!r}; choose another --name",
                details={"field": "name"},
            ) from exc

    def get_instance(self, tenant_id: str, instance_id: str) -> ConnectorInstance | None:
        with self.tenant(tenant_id) as cur:
            row = cur.execute(
                f"{_SELECT_INSTANCE} WHERE tenant_id = %s AND id = %s", (tenant_id, instance_id)
            ).fetchone()
        return _instance(row) if row else None

    def list_instances(self, tenant_id: str, *, include_uninstalled: bool = False) -> list[ConnectorInstance]:
        query = f"{_SELECT_INSTANCE} WHERE tenant_id = %s"
        if not include_uninstalled:
            query += " AND status <> 'uninstalled'"
        with self.tenant(tenant_id) as cur:
            rows = cur.execute(query + " ORDER BY installed_at, id", (tenant_id,)).fetchall()
        return [_instance(r) for r in rows]

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
        sets = ", ".join(f"{c} = {_placeholder(c)}" for c in columns)
        params: list[Any] = [_param(c, v) for c, v in columns.items()]
        params += [tenant_id, instance_id]
        where = "tenant_id = %s AND id = %s"
        if expected_status is not None:
            where += " AND status = %s"
            params.append(str(expected_status))
        try:
            with self.tenant(tenant_id) as cur:
                row = cur.execute(
                    f"UPDATE connector_instances SET {sets} WHERE {where} "
                    f"RETURNING {', '.join(INSTANCE_COLUMNS)}",
                    params,
                ).fetchone()
        except psycopg.errors.UniqueViolation as exc:
            raise InvalidInputError(
                "another live instance in this tenant already has that name",
                details={"field": "name"},
            ) from exc
        return _instance(row) if row else None

    def purge_instance_data(self, tenant_id: str, instance_id: str) -> None:
        with self.tenant(tenant_id) as cur:
            cur.execute(
                "DELETE FROM connector_credentials WHERE tenant_id = %s AND instance_id = %s",
                (tenant_id, instance_id),
            )
            for table in _instance_owned_tables(cur):
                cur.execute(
                    sql.SQL("DELETE FROM {} WHERE tenant_id = %s AND instance_id = %s").format(
                        sql.Identifier(table)
                    ),
                    (tenant_id, instance_id),
                )

    # ------------------------------------------------------------------ credentials
    def put_credential(self, record: CredentialRecord) -> None:
        with self.fenced(record.tenant_id, record.encryption_key_id) as cur:
            _upsert_credential(cur, record)

    @contextlib.contextmanager
    def fenced(self, tenant_id: str, key_id: str) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
        """Tenant work writing a secret sealed with ``key_id``, fenced by the vault's key state.

        The ``vault_state`` row is platform state, locked ``FOR SHARE`` as the owner (FOR SHARE
        needs UPDATE privilege) and held while the caller writes as ``cuervo_app`` in a savepoint,
        so RLS applies to the write and a rotation (``FOR UPDATE``) commits wholly before or after
        it. A retired key is refused (``AuthFailedError``, ``reason="master_key_retired"``) and
        nothing is written; when no key is current yet, ``key_id`` is claimed first, in its own
        statement (upgrading the shared lock would deadlock with another claimer).
        """
        for _ in range(3):
            with self.owner() as cur:
                current, retired = key_state(cur, key_id, lock="FOR SHARE")
                if key_id in retired:
                    raise retired_key_error(key_id, current)
                if current is not None and current not in retired:
                    with self.tenant(tenant_id) as tcur:
                        yield tcur
                    return
            with self.owner() as cur:
                cur.execute(
                    "UPDATE vault_state SET current_key_id = %s WHERE id = 1"
                    " AND (current_key_id IS NULL"
                    "      OR current_key_id IN (SELECT key_id FROM vault_retired_keys))"
                    " AND %s NOT IN (SELECT key_id FROM vault_retired_keys)",
                    (key_id, key_id),
                )
        raise InternalError("the vault's key state (table vault_state) is missing its row")

    def get_credential(self, tenant_id: str, instance_id: str) -> CredentialRecord | None:
        with self.tenant(tenant_id) as cur:
            row = cur.execute(
                f"SELECT {_CREDENTIAL_COLUMNS} FROM connector_credentials"
                " WHERE tenant_id = %s AND instance_id = %s",
                (tenant_id, instance_id),
            ).fetchone()
        return _credential(row) if row else None

    def delete_credentials(self, tenant_id: str, instance_id: str) -> int:
        with self.tenant(tenant_id) as cur:
            cur.execute(
                "DELETE FROM connector_credentials WHERE tenant_id = %s AND instance_id = %s",
                (tenant_id, instance_id),
            )
            return cur.rowcount

    def iter_all_credentials(self) -> Iterator[CredentialRecord]:
        with self.owner() as cur:
            rows = cur.execute(
                f"SELECT {_CREDENTIAL_COLUMNS} FROM connector_credentials ORDER BY id"
            ).fetchall()
        for row in rows:
            yield _credential(row)

    def replace_credentials(
        self,
        records: Sequence[CredentialRecord],
        *,
        also: Callable[[], None] | None = None,
        expected: Mapping[tuple[str, str], bytes] | None = None,
        rotation: tuple[str, str | None] | None = None,
    ) -> list[CredentialRecord]:
        current: str | None = None
        with self.owner() as cur:
            if rotation is not None:
                # First, before any credential row: writers hold this row FOR SHARE while they
                # write, so from here on none is half-way and none can start.
                current, _ = key_state(cur, rotation[0], lock="FOR UPDATE")
            if expected is not None:
                rows = cur.execute(
                    f"SELECT {_CREDENTIAL_COLUMNS} FROM connector_credentials ORDER BY id"
                ).fetchall()
                changed = changed_since([_credential(r) for r in rows], expected)
                if changed:
                    return changed  # nothing written: the caller re-wraps these and tries again
            for r in records:
                guard: str = ""
                params: tuple[bytes | None, ...] = ()
                if expected is not None:
                    guard, params = " AND wrapped_key = %s", (expected.get((r.tenant_id, r.instance_id)),)
                cur.execute(
                    "UPDATE connector_credentials SET encrypted_data = %s, wrapped_key = %s,"
                    " encryption_key_id = %s WHERE tenant_id = %s AND instance_id = %s" + guard,
                    (
                        r.encrypted_data,
                        r.wrapped_key,
                        r.encryption_key_id,
                        r.tenant_id,
                        r.instance_id,
                        *params,
                    ),
                )
            if also is not None:
                also()  # e.g. the event store's sealed webhook secrets: joins this transaction
            if rotation is not None:
                old_id, new_id = rotation
                retire = {old_id} | ({current} if current is not None else set())
                cur.executemany(
                    "INSERT INTO vault_retired_keys (key_id) VALUES (%s) ON CONFLICT (key_id) DO NOTHING",
                    [(k,) for k in sorted(retire - {new_id})],
                )
                if new_id is not None:
                    cur.execute("UPDATE vault_state SET current_key_id = %s WHERE id = 1", (new_id,))
        return []

    def vault_key_state(self) -> tuple[str | None, frozenset[str]]:
        with self.owner() as cur:
            row = cur.execute("SELECT current_key_id FROM vault_state WHERE id = 1").fetchone()
            retired = cur.execute("SELECT key_id FROM vault_retired_keys").fetchall()
        return (row["current_key_id"] if row else None), frozenset(r["key_id"] for r in retired)

    # ------------------------------------------------------------------ refresh locks
    def try_refresh_lock(
        self, tenant_id: str, instance_id: str, holder: str, until: float, now: float
    ) -> bool:
        with self.tenant(tenant_id) as cur:
            row = cur.execute(
                "INSERT INTO gw_refresh_locks (tenant_id, instance_id, holder, locked_until)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (tenant_id, instance_id) DO UPDATE SET"
                " holder = excluded.holder, locked_until = excluded.locked_until"
                " WHERE gw_refresh_locks.locked_until < %s"
                " OR gw_refresh_locks.holder = excluded.holder RETURNING holder",
                (tenant_id, instance_id, holder, until, now),
            ).fetchone()
        return row is not None

    def release_refresh_lock(self, tenant_id: str, instance_id: str, holder: str) -> None:
        with self.tenant(tenant_id) as cur:
            cur.execute(
                "DELETE FROM gw_refresh_locks WHERE tenant_id = %s AND instance_id = %s AND holder = %s",
                (tenant_id, instance_id, holder),
            )


def _upsert_credential(cur: psycopg.Cursor[dict[str, Any]], record: CredentialRecord) -> None:
    cur.execute(
        "INSERT INTO connector_credentials (id, instance_id, tenant_id, credential_type,"
        " encrypted_data, wrapped_key, encryption_key_id, expires_at, refreshed_at,"
        " created_at, metadata) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s::jsonb)"
        " ON CONFLICT (tenant_id, instance_id) DO UPDATE SET"
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
            _epoch_to_dt(record.expires_at),
            _epoch_to_dt(record.refreshed_at),
            _epoch_to_dt(record.created_at),
            dumps(record.metadata or {}),
        ),
    )


def key_state(cur: psycopg.Cursor[dict[str, Any]], key_id: str, *, lock: str) -> tuple[str | None, set[str]]:
    """Lock the vault's state row (``FOR SHARE`` or ``FOR UPDATE``); its current key id and which of
    ``key_id`` and it a rotation retired (read after the lock, so after any rotation it waited for)."""
    row = cur.execute(f"SELECT current_key_id FROM vault_state WHERE id = 1 {lock}").fetchone()
    if row is None:
        raise InternalError("the vault's key state (table vault_state) is missing its row")
    current: str | None = row["current_key_id"]
    retired = {
        r["key_id"]
        for r in cur.execute(
            "SELECT key_id FROM vault_retired_keys WHERE key_id IN (%s, %s)", (key_id, current or key_id)
        ).fetchall()
    }
    return current, retired


def _constraint(exc: psycopg.Error) -> str | None:
    return exc.diag.constraint_name


def _instance_owned_tables(cur: psycopg.Cursor[dict[str, Any]]) -> list[str]:
    """Tables added by later migrations (``gw_*``) that carry ``tenant_id`` and ``instance_id``."""
    rows = cur.execute(
        "SELECT c.table_name FROM information_schema.columns c"
        " JOIN information_schema.tables t"
        "   ON t.table_schema = c.table_schema AND t.table_name = c.table_name"
        " WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'"
        "   AND c.table_name LIKE 'gw\\_%' AND c.column_name IN ('tenant_id', 'instance_id')"
        " GROUP BY c.table_name HAVING count(*) = 2 ORDER BY c.table_name"
    ).fetchall()
    return [str(r["table_name"]) for r in rows]
