"""``PostgresGatewayState``: the gateway's shared state in PostgreSQL (the ``GatewayState`` port).

The same statements as ``SqliteGatewayState`` (its SQL is written for both dialects), run inside
one transaction per call as the tenant (row-level security applies). Where SQLite takes the
database's write lock with ``BEGIN IMMEDIATE``, PostgreSQL takes a transaction-scoped advisory lock
per tenant inside a savepoint; a single conditional upsert locks the row it changes, so it is atomic
on its own, as in SQLite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from cuervo_fabric.domain.gateway import (
    CallRecord,
    CircuitAdmission,
    CircuitConfig,
    CircuitSnapshot,
    InstanceView,
    ProviderLimit,
    RateDecision,
)
from cuervo_fabric.store.sqlite_gateway import SqliteGatewayState

__all__ = ["PostgresGatewayState"]


class _Row(dict[str, Any]):
    """A row readable by column name and by position, like ``sqlite3.Row``."""

    def __init__(self, names: list[str], values: Sequence[Any]) -> None:
        super().__init__(zip(names, values, strict=True))
        self._values = tuple(values)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int | slice):
            return self._values[key]
        return super().__getitem__(key)


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], _Row]:
    names = [c.name for c in cursor.description] if cursor.description else []
    return lambda values: _Row(names, values)


def _pg(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


class _Connection:
    """What ``SqliteGatewayState`` calls on ``self.conn``, on the open transaction's cursor."""

    def __init__(self, state: PostgresGatewayState) -> None:
        self.state = state

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cur = self.state.cursor()
        cur.execute(_pg(sql), tuple(params))
        return cur

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        cur = self.state.cursor()
        rows = list(rows)
        if rows:
            cur.executemany(_pg(sql), rows)
        return cur


def _iso(value: Any) -> Any:
    """A TIMESTAMPTZ as the store writes instance times (exactly, to the microsecond)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


class PostgresGatewayState(SqliteGatewayState):
    """Gateway state on a ``PostgresStore`` (one transaction per call, as the tenant)."""

    _greatest = "GREATEST"
    _last_activity = "GREATEST(last_activity_at, ?::timestamptz)"

    def __init__(self, store: Any) -> None:
        self.store = store
        self.conn = _Connection(self)  # type: ignore[assignment]
        self._cur: Any = None

    def cursor(self) -> Any:
        if self._cur is None:  # pragma: no cover - every public method opens a scope
            raise RuntimeError("gateway state used outside a transaction")
        return self._cur

    @contextmanager
    def _scope(self, tenant_id: str | None) -> Iterator[None]:
        """One transaction as the tenant (``None``: as the owner, every tenant)."""
        if self._cur is not None:
            yield
            return
        with self.store.tenant(tenant_id) if tenant_id is not None else self.store.owner() as base:
            self._cur = base.connection.cursor(row_factory=_row_factory)
            try:
                yield
            finally:
                self._cur = None

    @contextmanager
    def _immediate(self) -> Iterator[Any]:
        """A savepoint holding the tenant's gateway lock (read-then-write sections)."""
        with self.store.conn.transaction():
            self.cursor().execute(
                "SELECT pg_advisory_xact_lock(hashtextextended("
                "'cuervo-fabric gateway ' || current_setting('app.current_tenant', true), 0))"
            )
            yield self.conn

    # ------------------------------------------------------------------ every call in a scope
    def change_marker(self) -> object | None:
        """PostgreSQL has no cheap "nothing changed" signal: callers read the view each call."""
        return None

    def instance_view(self, tenant_id: str, instance_id: str) -> InstanceView | None:
        with self._scope(tenant_id):
            view = super().instance_view(tenant_id, instance_id)
        return None if view is None else view._replace(updated_at=_iso(view.updated_at))

    def circuit_admit(
        self, tenant_id: str, instance_id: str, defaults: CircuitConfig, now: float, lease_s: float
    ) -> CircuitAdmission:
        with self._scope(tenant_id):
            return super().circuit_admit(tenant_id, instance_id, defaults, now, lease_s)

    def circuit_record(
        self,
        tenant_id: str,
        instance_id: str,
        config: CircuitConfig,
        *,
        failed: bool,
        probe_lease: str | None,
        now: float,
    ) -> CircuitSnapshot:
        with self._scope(tenant_id):
            return super().circuit_record(
                tenant_id, instance_id, config, failed=failed, probe_lease=probe_lease, now=now
            )

    def circuit_get(self, tenant_id: str, instance_id: str) -> CircuitSnapshot:
        with self._scope(tenant_id):
            return super().circuit_get(tenant_id, instance_id)

    def circuit_force(
        self,
        tenant_id: str,
        instance_id: str,
        *,
        open: bool,
        until: float | None,
        reason: str,
        now: float,
    ) -> CircuitSnapshot:
        with self._scope(tenant_id):
            return super().circuit_force(
                tenant_id, instance_id, open=open, until=until, reason=reason, now=now
            )

    def circuit_configure(
        self, tenant_id: str, instance_id: str, overrides: dict[str, int | None], now: float
    ) -> CircuitSnapshot:
        with self._scope(tenant_id):
            return super().circuit_configure(tenant_id, instance_id, overrides, now)

    def tenant_limits(self, tenant_id: str) -> dict[str, int]:
        with self._scope(tenant_id):
            return super().tenant_limits(tenant_id)

    def set_tenant_limits(self, tenant_id: str, limits: dict[str, int], now_iso: str) -> dict[str, int]:
        with self._scope(tenant_id):
            return super().set_tenant_limits(tenant_id, limits, now_iso)

    def rate_acquire(
        self,
        tenant_id: str,
        instance_id: str,
        instance_limits: dict[str, int],
        weight: int,
        now: float,
        lease_s: float,
        reserve: int = 0,
    ) -> RateDecision:
        with self._scope(tenant_id):
            return super().rate_acquire(
                tenant_id, instance_id, instance_limits, weight, now, lease_s, reserve=reserve
            )

    def rate_give_back(self, tenant_id: str, windows: Sequence[tuple[str, int, float]], tokens: int) -> None:
        with self._scope(tenant_id):
            super().rate_give_back(tenant_id, windows, tokens)

    def rate_release(self, tenant_id: str, lease_ids: Sequence[str]) -> None:
        if lease_ids:
            with self._scope(tenant_id):
                super().rate_release(tenant_id, lease_ids)

    def rate_status(self, tenant_id: str, instance_id: str | None, now: float) -> dict[str, Any]:
        with self._scope(tenant_id):
            return super().rate_status(tenant_id, instance_id, now)

    def rate_reset(self, tenant_id: str, instance_id: str) -> None:
        with self._scope(tenant_id):
            super().rate_reset(tenant_id, instance_id)

    def provider_block(self, tenant_id: str, instance_id: str, limit: ProviderLimit, now: float) -> None:
        with self._scope(tenant_id):
            super().provider_block(tenant_id, instance_id, limit, now)

    def cache_get(self, tenant_id: str, instance_id: str, key: str, now: float) -> str | None:
        with self._scope(tenant_id):
            return super().cache_get(tenant_id, instance_id, key, now)

    def cache_put(
        self,
        tenant_id: str,
        instance_id: str,
        key: str,
        action: str,
        value: str,
        expires_at: float,
        now: float,
    ) -> None:
        with self._scope(tenant_id):
            super().cache_put(tenant_id, instance_id, key, action, value, expires_at, now)

    def record_calls(self, records: Sequence[CallRecord]) -> None:
        by_tenant: dict[str, list[CallRecord]] = {}
        for rec in records:
            by_tenant.setdefault(rec.tenant_id, []).append(rec)
        for tenant_id, batch in by_tenant.items():
            with self._scope(tenant_id):
                super().record_calls(batch)

    def metric_samples(self, tenant_id: str | None) -> list[tuple[str, dict[str, str], float]]:
        with self._scope(tenant_id):
            return super().metric_samples(tenant_id)

    def audit_rows(
        self,
        tenant_id: str,
        *,
        instance_id: str | None = None,
        action: str | None = None,
        status: str | None = None,
        since: float | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        with self._scope(tenant_id):
            return super().audit_rows(
                tenant_id, instance_id=instance_id, action=action, status=status, since=since, limit=limit
            )
