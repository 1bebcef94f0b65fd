"""``SqliteGatewayState``: the gateway's shared state in the SQLite store (the ``GatewayState`` port).

Every CLI call is a separate process, so each method is one atomic step: a single conditional
statement, or a ``BEGIN IMMEDIATE`` transaction that reads and writes under the write lock. The
hot path is kept short: a closed breaker is one ``SELECT``; an unlimited instance two; a limited one
a single transaction; metrics, audit rows and usage counters of many calls share one transaction.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from cuervo_fabric.domain.gateway import (
    CIRCUIT_STATE_VALUES,
    DURATION_BUCKETS_MS,
    WINDOWS,
    BucketStatus,
    CallRecord,
    CircuitAdmission,
    CircuitConfig,
    CircuitSnapshot,
    InstanceView,
    ProviderLimit,
    RateDecision,
)
from cuervo_fabric.domain.timeutil import iso

__all__ = ["SqliteGatewayState"]

_OVERRIDE_COLUMNS = {
    "failure_threshold": "failure_threshold",
    "success_threshold": "success_threshold",
    "timeout_ms": "timeout_ms",
    "half_open_max_requests": "half_open_max_requests",
}
_CIRCUIT_COLUMNS = (
    "state, failure_count, success_count, last_failure_at, last_success_at, opened_at, "
    "next_retry_at, reason, forced, failure_threshold, success_threshold, timeout_ms, "
    "half_open_max_requests"
)
_CIRCUIT_COLUMNS_OF_C = ", ".join("c." + c.strip() for c in _CIRCUIT_COLUMNS.split(","))
_LIMIT_KEYS = ("requestsPerMinute", "requestsPerHour", "concurrentRequests")
_BUCKET_LE = (*tuple(str(int(b)) for b in DURATION_BUCKETS_MS), "+Inf")


@functools.lru_cache(maxsize=4096)
def _labels(tenant: str, connector: str, instance: str, action: str, key: str = "", value: str = "") -> str:
    """Canonical label text of a series (JSON with sorted keys), memoised: the same few series
    repeat call after call."""
    labels = {"tenant": tenant, "connector": connector, "instance": instance, "action": action}
    if key:
        labels[key] = value
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


class _Refused(Exception):
    """Rolls back a multi-bucket take when one bucket is short."""


class SqliteGatewayState:
    """Gateway state on the ``SqliteStore``'s connection."""

    #: The few places the SQL dialects differ (``PostgresGatewayState`` overrides them).
    _greatest = "MAX"
    _last_activity = "MAX(COALESCE(last_activity_at, ''), ?)"

    def __init__(self, store: Any) -> None:
        self.store = store
        self.conn: sqlite3.Connection = store.conn
        # Called before every call of a long-running process: the store's own, without a hop.
        self.change_marker: Callable[[], object | None] = store.change_marker

    @contextmanager
    def _immediate(self) -> Iterator[sqlite3.Connection]:
        with self.store.transaction() as conn:
            yield conn

    def instance_view(self, tenant_id: str, instance_id: str) -> InstanceView | None:
        row = self.conn.execute(
            "SELECT i.status, i.updated_at, (SELECT wrapped_key FROM connector_credentials"
            " WHERE tenant_id = i.tenant_id AND instance_id = i.id) AS credential_version,"
            " (SELECT MAX(blocked_until) FROM gw_provider_limits WHERE tenant_id = i.tenant_id"
            " AND instance_id = i.id) AS blocked_until, t.requests_per_minute, t.requests_per_hour,"
            f" t.concurrent_requests, {_CIRCUIT_COLUMNS_OF_C} FROM connector_instances i"
            " LEFT JOIN gw_tenant_limits t ON t.tenant_id = i.tenant_id"
            " LEFT JOIN gw_circuit c ON c.tenant_id = i.tenant_id AND c.instance_id = i.id"
            " WHERE i.tenant_id = ? AND i.id = ?",
            (tenant_id, instance_id),
        ).fetchone()
        if row is None:
            return None
        version = row["credential_version"]
        return InstanceView(
            status=row["status"],
            updated_at=row["updated_at"],
            credential_version=None if version is None else bytes(version),
            circuit=None if row["state"] is None else self._snapshot(row),
            tenant_limits=dict(zip(_LIMIT_KEYS, (int(v or 0) for v in row[4:7]), strict=True)),
            blocked_until=row["blocked_until"],
        )

    # ================================================================== circuit breaker
    def _circuit_row(self, conn: sqlite3.Connection, tenant_id: str, instance_id: str) -> Any:
        return conn.execute(
            f"SELECT {_CIRCUIT_COLUMNS} FROM gw_circuit WHERE tenant_id = ? AND instance_id = ?",
            (tenant_id, instance_id),
        ).fetchone()

    @staticmethod
    def _snapshot(row: Any, probes: int = 0) -> CircuitSnapshot:
        if row is None:
            return CircuitSnapshot()
        return CircuitSnapshot(
            state=row["state"],
            failure_count=row["failure_count"],
            success_count=row["success_count"],
            last_failure_at=row["last_failure_at"],
            last_success_at=row["last_success_at"],
            opened_at=row["opened_at"],
            next_retry_at=row["next_retry_at"],
            reason=row["reason"],
            forced=bool(row["forced"]),
            probes_in_flight=probes,
            overrides={key: row[col] for key, col in _OVERRIDE_COLUMNS.items()},
        )

    @staticmethod
    def _config(defaults: CircuitConfig, row: Any) -> CircuitConfig:
        if row is None:
            return defaults
        return defaults.with_overrides({key: row[col] for key, col in _OVERRIDE_COLUMNS.items()})

    def circuit_admit(
        self, tenant_id: str, instance_id: str, defaults: CircuitConfig, now: float, lease_s: float
    ) -> CircuitAdmission:
        row = self._circuit_row(self.conn, tenant_id, instance_id)
        config = self._config(defaults, row)
        if row is None or row["state"] == "closed":
            return CircuitAdmission(True, self._snapshot(row), config)
        if row["state"] == "open" and (row["next_retry_at"] is None or now < row["next_retry_at"]):
            retry = None if row["next_retry_at"] is None else int((row["next_retry_at"] - now) * 1000) + 1
            return CircuitAdmission(False, self._snapshot(row), config, retry_after_ms=retry)
        with self._immediate() as conn:
            row = self._circuit_row(conn, tenant_id, instance_id)
            config = self._config(defaults, row)
            if row is None or row["state"] == "closed":  # closed meanwhile by another process
                return CircuitAdmission(True, self._snapshot(row), config)
            if row["state"] == "open":
                if row["next_retry_at"] is None or now < row["next_retry_at"]:
                    retry = (
                        None if row["next_retry_at"] is None else int((row["next_retry_at"] - now) * 1000) + 1
                    )
                    return CircuitAdmission(False, self._snapshot(row), config, retry_after_ms=retry)
                conn.execute(
                    "UPDATE gw_circuit SET state = 'half_open', success_count = 0, forced = 0,"
                    " updated_at = ? WHERE tenant_id = ? AND instance_id = ?",
                    (now, tenant_id, instance_id),
                )
                self._mirror(conn, tenant_id, instance_id, "half_open", row["opened_at"], None, None)
            conn.execute(
                "DELETE FROM gw_leases WHERE tenant_id = ? AND scope = 'probe' AND instance_id = ?"
                " AND expires_at <= ?",
                (tenant_id, instance_id, now),
            )
            leases = conn.execute(
                "SELECT expires_at FROM gw_leases WHERE tenant_id = ? AND scope = 'probe'"
                " AND instance_id = ? ORDER BY expires_at",
                (tenant_id, instance_id),
            ).fetchall()
            row = self._circuit_row(conn, tenant_id, instance_id)
            if len(leases) >= config.half_open_max_requests:
                wait = min(leases[0]["expires_at"] - now, config.timeout_ms / 1000)
                return CircuitAdmission(
                    False,
                    self._snapshot(row, len(leases)),
                    config,
                    retry_after_ms=int(wait * 1000) + 1,
                )
            lease = uuid.uuid4().hex
            conn.execute(
                "INSERT INTO gw_leases (id, tenant_id, instance_id, scope, expires_at)"
                " VALUES (?, ?, ?, 'probe', ?)",
                (lease, tenant_id, instance_id, now + lease_s),
            )
            return CircuitAdmission(True, self._snapshot(row, len(leases) + 1), config, probe_lease=lease)

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
        with self._immediate() as conn:
            row = self._circuit_row(conn, tenant_id, instance_id)
            if row is None:
                conn.execute(
                    "INSERT INTO gw_circuit (tenant_id, instance_id, updated_at) VALUES (?, ?, ?)",
                    (tenant_id, instance_id, now),
                )
                row = self._circuit_row(conn, tenant_id, instance_id)
            state, failures, successes = row["state"], row["failure_count"], row["success_count"]
            opened_at, next_retry, reason = row["opened_at"], row["next_retry_at"], row["reason"]
            if probe_lease is not None:
                conn.execute("DELETE FROM gw_leases WHERE id = ?", (probe_lease,))
            if probe_lease is not None and state == "half_open":
                if failed:
                    state, failures, successes = "open", failures + 1, 0
                    opened_at, next_retry = now, now + config.timeout_ms / 1000
                    reason = "a half-open probe failed"
                else:
                    successes += 1
                    if successes >= config.success_threshold:
                        state, failures, successes = "closed", 0, 0
                        opened_at = next_retry = reason = None
            elif state == "closed":
                if failed:
                    failures += 1
                    if failures >= config.failure_threshold:
                        state, successes = "open", 0
                        opened_at, next_retry = now, now + config.timeout_ms / 1000
                        reason = f"{failures} consecutive failures"
                else:
                    failures = 0
            # else: a call admitted before the breaker opened finished late; it changes nothing.
            if state != "closed" or row["state"] != "closed":
                conn.execute(
                    "DELETE FROM gw_leases WHERE tenant_id = ? AND scope = 'probe' AND instance_id = ?"
                    " AND ? <> 'half_open'",
                    (tenant_id, instance_id, state),
                )
            conn.execute(
                "UPDATE gw_circuit SET state = ?, failure_count = ?, success_count = ?,"
                " last_failure_at = CASE WHEN ? THEN ? ELSE last_failure_at END,"
                " last_success_at = CASE WHEN ? THEN last_success_at ELSE ? END,"
                " opened_at = ?, next_retry_at = ?, reason = ?,"
                " forced = CASE WHEN ? = state THEN forced ELSE 0 END, updated_at = ?"
                " WHERE tenant_id = ? AND instance_id = ?",
                (
                    state,
                    failures,
                    successes,
                    failed,
                    now,
                    failed,
                    now,
                    opened_at,
                    next_retry,
                    reason,
                    state,
                    now,
                    tenant_id,
                    instance_id,
                ),
            )
            if state != row["state"] or failures != row["failure_count"]:
                self._mirror(conn, tenant_id, instance_id, state, opened_at, next_retry, failures)
            return self._snapshot(self._circuit_row(conn, tenant_id, instance_id))

    def circuit_get(self, tenant_id: str, instance_id: str) -> CircuitSnapshot:
        row = self._circuit_row(self.conn, tenant_id, instance_id)
        probes = self.conn.execute(
            "SELECT COUNT(*) FROM gw_leases WHERE tenant_id = ? AND scope = 'probe' AND instance_id = ?"
            " AND expires_at > ?",
            (tenant_id, instance_id, time.time()),
        ).fetchone()[0]
        return self._snapshot(row, probes)

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
        with self._immediate() as conn:
            conn.execute(
                "INSERT INTO gw_circuit (tenant_id, instance_id, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT(tenant_id, instance_id) DO NOTHING",
                (tenant_id, instance_id, now),
            )
            conn.execute(
                "DELETE FROM gw_leases WHERE tenant_id = ? AND scope = 'probe' AND instance_id = ?",
                (tenant_id, instance_id),
            )
            if open:
                conn.execute(
                    "UPDATE gw_circuit SET state = 'open', forced = 1, success_count = 0, opened_at = ?,"
                    " next_retry_at = ?, reason = ?, updated_at = ? WHERE tenant_id = ? AND instance_id = ?",
                    (now, until, reason, now, tenant_id, instance_id),
                )
                self._mirror(conn, tenant_id, instance_id, "open", now, until, None)
            else:
                conn.execute(
                    "UPDATE gw_circuit SET state = 'closed', forced = 0, failure_count = 0,"
                    " success_count = 0, opened_at = NULL, next_retry_at = NULL, reason = ?,"
                    " updated_at = ? WHERE tenant_id = ? AND instance_id = ?",
                    (reason or None, now, tenant_id, instance_id),
                )
                self._mirror(conn, tenant_id, instance_id, "closed", None, None, 0)
            return self._snapshot(self._circuit_row(conn, tenant_id, instance_id))

    def circuit_configure(
        self, tenant_id: str, instance_id: str, overrides: dict[str, int | None], now: float
    ) -> CircuitSnapshot:
        unknown = set(overrides) - set(_OVERRIDE_COLUMNS)
        if unknown:
            raise ValueError(f"unknown circuit settings: {sorted(unknown)}")
        with self._immediate() as conn:
            conn.execute(
                "INSERT INTO gw_circuit (tenant_id, instance_id, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT(tenant_id, instance_id) DO NOTHING",
                (tenant_id, instance_id, now),
            )
            for key, value in overrides.items():
                conn.execute(
                    f"UPDATE gw_circuit SET {_OVERRIDE_COLUMNS[key]} = ?, updated_at = ?"
                    " WHERE tenant_id = ? AND instance_id = ?",
                    (value, now, tenant_id, instance_id),
                )
            if overrides.get("timeout_ms") is not None:
                # A new timeout applies to the open period under way (not to a forced opening).
                row = conn.execute(
                    "UPDATE gw_circuit SET next_retry_at = opened_at + ? / 1000.0"
                    " WHERE tenant_id = ? AND instance_id = ? AND state = 'open' AND forced = 0"
                    " AND opened_at IS NOT NULL RETURNING opened_at, next_retry_at",
                    (overrides["timeout_ms"], tenant_id, instance_id),
                ).fetchone()
                if row is not None:
                    self._mirror(conn, tenant_id, instance_id, "open", row[0], row[1], None)
            return self._snapshot(self._circuit_row(conn, tenant_id, instance_id))

    @staticmethod
    def _mirror(
        conn: sqlite3.Connection,
        tenant_id: str,
        instance_id: str,
        state: str,
        opened_at: float | None,
        next_retry: float | None,
        failures: int | None,
    ) -> None:
        """Keep the seed's circuit columns of connector_instances in step (``connector show``)."""
        conn.execute(
            "UPDATE connector_instances SET circuit_state = ?, circuit_opened_at = ?,"
            " circuit_next_retry_at = ?, consecutive_failures = COALESCE(?, consecutive_failures)"
            " WHERE tenant_id = ? AND id = ?",
            (
                state,
                iso(opened_at) if opened_at else None,
                iso(next_retry) if next_retry else None,
                failures,
                tenant_id,
                instance_id,
            ),
        )

    # ================================================================== rate limits
    def tenant_limits(self, tenant_id: str) -> dict[str, int]:
        row = self.conn.execute(
            "SELECT requests_per_minute, requests_per_hour, concurrent_requests FROM gw_tenant_limits"
            " WHERE tenant_id = ?",
            (tenant_id,),
        ).fetchone()
        values = (row[0], row[1], row[2]) if row else (0, 0, 0)
        return dict(zip(_LIMIT_KEYS, values, strict=True))

    def set_tenant_limits(self, tenant_id: str, limits: dict[str, int], now_iso: str) -> dict[str, int]:
        merged = {**self.tenant_limits(tenant_id), **limits}
        self.conn.execute(
            "INSERT INTO gw_tenant_limits (tenant_id, requests_per_minute, requests_per_hour,"
            " concurrent_requests, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(tenant_id) DO UPDATE SET"
            " requests_per_minute = excluded.requests_per_minute,"
            " requests_per_hour = excluded.requests_per_hour,"
            " concurrent_requests = excluded.concurrent_requests, updated_at = excluded.updated_at",
            (tenant_id, *(int(merged[k]) for k in _LIMIT_KEYS), now_iso),
        )
        return merged

    def _blocked(self, tenant_id: str, instance_id: str, now: float) -> Any:
        return self.conn.execute(
            "SELECT blocked_until, reason, resource, source FROM gw_provider_limits"
            " WHERE tenant_id = ? AND instance_id = ? AND blocked_until > ?"
            " ORDER BY blocked_until DESC LIMIT 1",
            (tenant_id, instance_id, now),
        ).fetchone()

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
        head = self.conn.execute(
            "SELECT (SELECT MAX(blocked_until) FROM gw_provider_limits WHERE tenant_id = ?"
            " AND instance_id = ? AND blocked_until > ?), t.requests_per_minute, t.requests_per_hour,"
            " t.concurrent_requests FROM (SELECT 1) AS one LEFT JOIN gw_tenant_limits t ON t.tenant_id = ?",
            (tenant_id, instance_id, now, tenant_id),
        ).fetchone()
        if head[0] is not None:
            blocked = self._blocked(tenant_id, instance_id, now)
            if blocked is not None:
                return RateDecision(
                    allowed=False,
                    limit_type="external",
                    retry_after_ms=int((blocked["blocked_until"] - now) * 1000) + 1,
                    reason=blocked["reason"] or f"{blocked['source']} asked us to wait",
                )
        tenant = dict(zip(_LIMIT_KEYS, (int(v or 0) for v in head[1:]), strict=True))
        specs: list[tuple[str, str, str, int]] = []  # scope, instance key, window, capacity
        for scope, key, limits in (("tenant", "", tenant), ("connector", instance_id, instance_limits)):
            for window, field_name in (("minute", "requestsPerMinute"), ("hour", "requestsPerHour")):
                if int(limits.get(field_name) or 0) > 0:
                    specs.append((scope, key, window, int(limits[field_name])))
        concurrency = [
            (scope, int(limits.get("concurrentRequests") or 0))
            for scope, limits in (("tenant", tenant), ("instance", instance_limits))
            if int(limits.get("concurrentRequests") or 0) > 0
        ]
        if not specs and not concurrency:
            return RateDecision(allowed=True)
        if not concurrency:
            if reserve > 0:
                taken = self._take_all(tenant_id, specs, weight, reserve, now)
                if taken is not None:
                    return taken
            return self._take_tokens(tenant_id, specs, weight, now)
        return self._take_tokens_and_lease(tenant_id, instance_id, specs, concurrency, weight, now, lease_s)

    def _take_all(
        self, tenant_id: str, specs: list[tuple[str, str, str, int]], weight: int, extra: int, now: float
    ) -> RateDecision | None:
        """``weight`` (at most a bucket's capacity) plus ``extra`` tokens from every bucket, all or
        nothing: one conditional upsert per bucket (one bucket: that single statement is the whole
        atomic step; more: they share a ``BEGIN IMMEDIATE``). ``None`` when a bucket is short."""
        taken: list[tuple[BucketStatus, tuple[str, int, float]]] = []
        try:
            with contextlib.nullcontext() if len(specs) == 1 else self._immediate():
                for spec in specs:
                    got = self._take_one(tenant_id, spec, min(weight, spec[3]) + extra, now)
                    if got is None:
                        raise _Refused  # rolls back what the other buckets gave
                    taken.append(got)
        except _Refused:
            return None
        return RateDecision(
            allowed=True,
            buckets=tuple(b for b, _ in taken),
            reserved=extra,
            windows=tuple(w for _, w in taken),
        )

    def _take_tokens(
        self, tenant_id: str, specs: list[tuple[str, str, str, int]], weight: int, now: float
    ) -> RateDecision:
        taken = self._take_all(tenant_id, specs, weight, 0, now)
        return taken if taken is not None else self._why_refused(tenant_id, specs, weight, now)

    def _take_one(
        self, tenant_id: str, spec: tuple[str, str, str, int], amount: int, now: float
    ) -> tuple[BucketStatus, tuple[str, int, float]] | None:
        scope, key, window, capacity = spec
        period = WINDOWS[window]
        # The SELECT's WHERE checks a new bucket's first take (the INSERT); the upsert's WHERE
        # checks every later one.
        row = self.conn.execute(
            "INSERT INTO gw_buckets (tenant_id, instance_id, period_s, capacity, used, window_start)"
            " SELECT ?, ?, ?, ?, ?, ? WHERE ? <= ?"
            " ON CONFLICT(tenant_id, instance_id, period_s) DO UPDATE SET"
            " capacity = excluded.capacity,"
            " used = CASE WHEN excluded.window_start >= gw_buckets.window_start + gw_buckets.period_s"
            " THEN excluded.used ELSE gw_buckets.used + excluded.used END,"
            " window_start = CASE WHEN excluded.window_start >= gw_buckets.window_start + gw_buckets.period_s"
            " THEN excluded.window_start ELSE gw_buckets.window_start END"
            " WHERE (CASE WHEN excluded.window_start >= gw_buckets.window_start + gw_buckets.period_s"
            " THEN 0 ELSE gw_buckets.used END) + excluded.used <= excluded.capacity"
            " RETURNING used, window_start",
            (tenant_id, key, period, capacity, amount, now, amount, capacity),
        ).fetchone()
        if row is None:
            return None
        start = float(row[1])
        return BucketStatus(scope, window, capacity, capacity - int(row[0]), start + period), (
            key,
            period,
            start,
        )

    def rate_give_back(self, tenant_id: str, windows: Sequence[tuple[str, int, float]], tokens: int) -> None:
        """Return unspent reserved tokens to buckets whose window is still the one they came from."""
        if tokens <= 0 or not windows:
            return
        with self._immediate() as conn:
            for key, period, start in windows:
                conn.execute(
                    f"UPDATE gw_buckets SET used = {self._greatest}(used - ?, 0) WHERE tenant_id = ?"
                    " AND instance_id = ? AND period_s = ? AND window_start = ?",
                    (tokens, tenant_id, key, period, start),
                )

    def _why_refused(
        self, tenant_id: str, specs: list[tuple[str, str, str, int]], weight: int, now: float
    ) -> RateDecision:
        """Which limit refused and for how long (read after the fact; nothing was taken)."""
        current = {
            (r["instance_id"], r["period_s"]): r
            for r in self.conn.execute(
                "SELECT instance_id, period_s, used, window_start FROM gw_buckets WHERE tenant_id = ?"
                " AND instance_id IN (" + ", ".join("?" for _ in specs) + ")",
                (tenant_id, *(key for _, key, _, _ in specs)),
            ).fetchall()
        }
        statuses, refusals = [], []
        for scope, key, window, capacity in specs:
            period = WINDOWS[window]
            r = current.get((key, period))
            active = r is not None and now < r["window_start"] + period
            used = int(r["used"]) if r is not None and active else 0
            reset_at = float(r["window_start"]) + period if r is not None and active else now + period
            statuses.append(BucketStatus(scope, window, capacity, max(0, capacity - used), reset_at))
            if used + min(weight, capacity) > capacity:
                refusals.append((reset_at - now, scope, f"{capacity} requests per {window}"))
        if not refusals:  # a window ended between the two statements: try once more
            return self._take_tokens(tenant_id, specs, weight, now + 0.001)
        wait, scope, what = max(refusals)
        return RateDecision(
            allowed=False,
            buckets=tuple(statuses),
            limit_type=scope,
            retry_after_ms=int(wait * 1000) + 1,
            reason=f"{'tenant' if scope == 'tenant' else 'instance'} limit of {what}",
        )

    def _take_tokens_and_lease(
        self,
        tenant_id: str,
        instance_id: str,
        specs: list[tuple[str, str, str, int]],
        concurrency: list[tuple[str, int]],
        weight: int,
        now: float,
        lease_s: float,
    ) -> RateDecision:
        """Buckets and concurrency leases together, under ``BEGIN IMMEDIATE``."""
        with self._immediate() as conn:
            rows = {
                (r["instance_id"], r["period_s"]): r
                for r in conn.execute(
                    "SELECT instance_id, period_s, used, window_start FROM gw_buckets"
                    " WHERE tenant_id = ? AND instance_id IN (?, '')",
                    (tenant_id, instance_id),
                ).fetchall()
            }
            statuses: list[BucketStatus] = []
            writes: list[tuple[Any, ...]] = []
            refusals: list[tuple[float, str, str]] = []
            for scope, key, window, capacity in specs:
                period = WINDOWS[window]
                row = rows.get((key, period))
                if row is None or now >= row["window_start"] + period:
                    used, start = 0, now
                else:
                    used, start = int(row["used"]), float(row["window_start"])
                cost = min(weight, capacity)
                reset_at = start + period
                if used + cost > capacity:
                    refusals.append((reset_at - now, scope, f"{capacity} requests per {window}"))
                    statuses.append(BucketStatus(scope, window, capacity, max(0, capacity - used), reset_at))
                    continue
                writes.append((tenant_id, key, period, capacity, used + cost, start))
                statuses.append(BucketStatus(scope, window, capacity, capacity - used - cost, reset_at))
            active = conn.execute(
                "SELECT COUNT(*) FILTER (WHERE scope = 'tenant'),"
                " MIN(expires_at) FILTER (WHERE scope = 'tenant'),"
                " COUNT(*) FILTER (WHERE scope = 'instance' AND instance_id = ?),"
                " MIN(expires_at) FILTER (WHERE scope = 'instance' AND instance_id = ?)"
                " FROM gw_leases WHERE tenant_id = ? AND scope IN ('tenant', 'instance') AND expires_at > ?",
                (instance_id, instance_id, tenant_id, now),
            ).fetchone()
            in_flight = {"tenant": (int(active[0]), active[1]), "instance": (int(active[2]), active[3])}
            lease_rows: list[tuple[Any, ...]] = []
            for scope, limit in concurrency:
                in_use, earliest = in_flight[scope]
                label = "tenant" if scope == "tenant" else "connector"
                if in_use >= limit:
                    refusals.append((float(earliest) - now, label, f"{limit} concurrent requests"))
                    statuses.append(BucketStatus(label, "concurrent", limit, 0, None))
                    continue
                lease_rows.append((uuid.uuid4().hex, tenant_id, instance_id, scope, now + lease_s))
                statuses.append(BucketStatus(label, "concurrent", limit, limit - in_use - 1, None))
            if refusals:
                conn.execute(  # tidy up leases of crashed processes while we hold the lock
                    "DELETE FROM gw_leases WHERE tenant_id = ? AND scope IN ('tenant', 'instance')"
                    " AND expires_at <= ?",
                    (tenant_id, now),
                )
                wait, scope, what = max(refusals)
                return RateDecision(
                    allowed=False,
                    buckets=tuple(statuses),
                    limit_type=scope,
                    retry_after_ms=int(wait * 1000) + 1,
                    reason=f"{'tenant' if scope == 'tenant' else 'instance'} limit of {what}",
                )
            if writes:
                conn.executemany(
                    "INSERT INTO gw_buckets (tenant_id, instance_id, period_s, capacity, used, window_start)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(tenant_id, instance_id, period_s) DO UPDATE SET"
                    " capacity = excluded.capacity, used = excluded.used,"
                    " window_start = excluded.window_start",
                    writes,
                )
            conn.executemany(
                "INSERT INTO gw_leases (id, tenant_id, instance_id, scope, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                lease_rows,
            )
            return RateDecision(
                allowed=True, buckets=tuple(statuses), lease_ids=tuple(r[0] for r in lease_rows)
            )

    def rate_release(self, tenant_id: str, lease_ids: Sequence[str]) -> None:
        if lease_ids:
            self.conn.execute(
                f"DELETE FROM gw_leases WHERE id IN ({', '.join('?' for _ in lease_ids)})", tuple(lease_ids)
            )

    def rate_status(self, tenant_id: str, instance_id: str | None, now: float) -> dict[str, Any]:
        where, params = "tenant_id = ?", [tenant_id]
        if instance_id is not None:
            where += " AND instance_id IN (?, '')"
            params.append(instance_id)
        buckets = [
            dict(r)
            for r in self.conn.execute(
                f"SELECT instance_id, period_s, capacity, used, window_start FROM gw_buckets WHERE {where}",
                params,
            ).fetchall()
        ]
        leases: dict[tuple[str, str], int] = {}
        for r in self.conn.execute(
            "SELECT scope, instance_id, COUNT(*) AS n FROM gw_leases WHERE tenant_id = ? AND expires_at > ?"
            " GROUP BY scope, instance_id",
            (tenant_id, now),
        ).fetchall():
            leases[(r["scope"], r["instance_id"])] = int(r["n"])
        provider = [
            dict(r)
            for r in self.conn.execute(
                "SELECT instance_id, resource, source, limit_value, remaining, reset_at, blocked_until,"
                f" reason, updated_at FROM gw_provider_limits WHERE {where} ORDER BY resource",
                params,
            ).fetchall()
        ]
        return {
            "tenantLimits": self.tenant_limits(tenant_id),
            "buckets": buckets,
            "leases": leases,
            "provider": provider,
        }

    def rate_reset(self, tenant_id: str, instance_id: str) -> None:
        with self._immediate() as conn:
            conn.execute(
                "DELETE FROM gw_buckets WHERE tenant_id = ? AND instance_id = ?", (tenant_id, instance_id)
            )
            conn.execute(
                "DELETE FROM gw_leases WHERE tenant_id = ? AND instance_id = ? AND scope <> 'probe'",
                (tenant_id, instance_id),
            )
            conn.execute(
                "DELETE FROM gw_provider_limits WHERE tenant_id = ? AND instance_id = ?",
                (tenant_id, instance_id),
            )

    def provider_block(self, tenant_id: str, instance_id: str, limit: ProviderLimit, now: float) -> None:
        # One conditional upsert: a later, shorter block never shortens a longer one still ahead.
        self.conn.execute(
            "INSERT INTO gw_provider_limits (tenant_id, instance_id, resource, source, limit_value,"
            " remaining, reset_at, blocked_until, reason, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(tenant_id, instance_id, resource) DO UPDATE SET"
            " source = excluded.source,"
            " limit_value = COALESCE(excluded.limit_value, gw_provider_limits.limit_value),"
            " remaining = COALESCE(excluded.remaining, gw_provider_limits.remaining),"
            " reset_at = COALESCE(excluded.reset_at, gw_provider_limits.reset_at),"
            f" blocked_until = {self._greatest}(COALESCE(gw_provider_limits.blocked_until, 0),"
            " excluded.blocked_until),"
            " reason = CASE WHEN COALESCE(gw_provider_limits.blocked_until, 0) > excluded.blocked_until"
            " THEN gw_provider_limits.reason ELSE excluded.reason END,"
            " updated_at = excluded.updated_at",
            (
                tenant_id,
                instance_id,
                limit.resource,
                limit.source,
                limit.limit,
                limit.remaining,
                limit.reset_at,
                limit.blocked_until or now,
                limit.reason,
                now,
            ),
        )

    # ================================================================== cache
    def cache_get(self, tenant_id: str, instance_id: str, key: str, now: float) -> str | None:
        row = self.conn.execute(
            "SELECT value FROM gw_cache WHERE tenant_id = ? AND instance_id = ? AND cache_key = ?"
            " AND expires_at > ?",
            (tenant_id, instance_id, key, now),
        ).fetchone()
        return None if row is None else str(row[0])

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
        with self._immediate() as conn:
            conn.execute(
                "DELETE FROM gw_cache WHERE tenant_id = ? AND instance_id = ? AND expires_at <= ?",
                (tenant_id, instance_id, now),
            )
            conn.execute(
                "INSERT INTO gw_cache (tenant_id, instance_id, cache_key, action, value, expires_at,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(tenant_id, instance_id, cache_key)"
                " DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at,"
                " created_at = excluded.created_at",
                (tenant_id, instance_id, key, action, value, expires_at, now),
            )

    # ================================================================== metrics, audit, usage
    def record_calls(self, records: Sequence[CallRecord]) -> None:
        if not records:
            return
        metrics: dict[tuple[str, str, str, str], float] = {}

        def add(rec: CallRecord, name: str, labels: str, value: float = 1.0) -> None:
            key = (rec.tenant_id, rec.instance_id, name, labels)
            metrics[key] = metrics.get(key, 0.0) + value

        usage: dict[tuple[str, str], list[Any]] = {}
        audit: list[tuple[Any, ...]] = []
        #: (tenant, instance, resource) -> the row as the batch's upserts in turn would leave it
        #: (one statement per resource instead of one per call).
        provider: dict[tuple[str, str, str], tuple[Any, ...]] = {}
        for rec in records:
            base = (rec.tenant_id, rec.connector_id, rec.instance_name, rec.action)
            add(rec, "connector_requests_total", _labels(*base, "status", rec.status))
            le = _BUCKET_LE[bisect.bisect_left(DURATION_BUCKETS_MS, rec.duration_ms)]
            add(rec, "connector_request_duration_ms_bucket", _labels(*base, "le", le))
            plain = _labels(*base)
            add(rec, "connector_request_duration_ms_sum", plain, rec.duration_ms)
            add(rec, "connector_request_duration_ms_count", plain)
            if rec.error_code:
                add(rec, "connector_errors_total", _labels(*base, "error_code", rec.error_code))
            audit.append(
                (
                    rec.tenant_id,
                    rec.instance_id,
                    rec.instance_name,
                    rec.connector_id,
                    rec.user_id,
                    rec.action,
                    rec.status,
                    rec.error_code,
                    round(rec.duration_ms, 3),
                    rec.attempts,
                    rec.api_calls,
                    int(rec.cached),
                    rec.trace_id,
                    rec.rate_limit_remaining,
                    rec.rate_limit_limit,
                    rec.rate_limit_reset_at,
                    rec.at,
                )
            )
            if rec.status != "refused":
                u = usage.setdefault((rec.tenant_id, rec.instance_id), [0, 0, 0.0, rec.at])
                u[0] += 1
                u[1] += int(rec.status == "error")
                u[2] += rec.duration_ms
                u[3] = max(u[3], rec.at)
            for lim in rec.provider_limits:
                key = (rec.tenant_id, rec.instance_id, lim.resource)
                prev = provider.get(key)
                if prev is not None and rec.at < prev[7]:
                    continue
                provider[key] = (
                    *key,
                    lim.source,
                    lim.limit if lim.limit is not None or prev is None else prev[4],
                    lim.remaining,
                    lim.reset_at if lim.reset_at is not None or prev is None else prev[6],
                    rec.at,
                )
        with self._immediate() as conn:
            conn.executemany(
                "INSERT INTO gw_metrics (tenant_id, instance_id, name, labels, value) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(tenant_id, instance_id, name, labels)"
                " DO UPDATE SET value = gw_metrics.value + excluded.value",
                [(*key, value) for key, value in metrics.items()],
            )
            conn.executemany(
                "INSERT INTO gw_audit (tenant_id, instance_ref, instance_name, connector_id, user_id,"
                " action, status, error_code, duration_ms, attempts, api_calls, cached, trace_id,"
                " rate_limit_remaining, rate_limit_limit, rate_limit_reset_at, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                audit,
            )
            conn.executemany(
                "UPDATE connector_instances SET total_requests = total_requests + ?,"
                " total_errors = total_errors + ?, total_latency_ms = total_latency_ms + ?,"
                f" last_activity_at = {self._last_activity} WHERE tenant_id = ? AND id = ?",
                [(n, e, round(ms), iso(at), t, i) for (t, i), (n, e, ms, at) in usage.items()],
            )
            if provider:
                conn.executemany(
                    "INSERT INTO gw_provider_limits (tenant_id, instance_id, resource, source, limit_value,"
                    " remaining, reset_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(tenant_id, instance_id, resource) DO UPDATE SET"
                    " source = excluded.source,"
                    " limit_value = COALESCE(excluded.limit_value, gw_provider_limits.limit_value),"
                    " remaining = excluded.remaining,"
                    " reset_at = COALESCE(excluded.reset_at, gw_provider_limits.reset_at),"
                    " updated_at = excluded.updated_at"
                    " WHERE excluded.updated_at >= gw_provider_limits.updated_at",
                    list(provider.values()),
                )

    def metric_samples(self, tenant_id: str | None) -> list[tuple[str, dict[str, str], float]]:
        now = time.time()
        tenant_where, params = ("WHERE tenant_id = ?", (tenant_id,)) if tenant_id else ("", ())
        out: list[tuple[str, dict[str, str], float]] = [
            (r["name"], json.loads(r["labels"]), float(r["value"]))
            for r in self.conn.execute(
                f"SELECT name, labels, value FROM gw_metrics {tenant_where} ORDER BY name, labels", params
            ).fetchall()
        ]
        instances = self.conn.execute(
            "SELECT i.tenant_id, i.id, i.display_name, i.connector_id, i.rate_limits,"
            " COALESCE(c.state, 'closed') AS state, cr.expires_at"
            " FROM connector_instances i"
            " LEFT JOIN gw_circuit c ON c.tenant_id = i.tenant_id AND c.instance_id = i.id"
            " LEFT JOIN connector_credentials cr ON cr.tenant_id = i.tenant_id AND cr.instance_id = i.id"
            f" WHERE i.status <> 'uninstalled' {'AND i.tenant_id = ?' if tenant_id else ''}"
            " ORDER BY i.tenant_id, i.display_name",
            params,
        ).fetchall()
        buckets = {
            (r["tenant_id"], r["instance_id"], r["period_s"]): r
            for r in self.conn.execute(
                f"SELECT tenant_id, instance_id, period_s, used, window_start FROM gw_buckets {tenant_where}",
                params,
            ).fetchall()
        }
        provider = self.conn.execute(
            "SELECT tenant_id, instance_id, resource, remaining, reset_at FROM gw_provider_limits"
            f" {tenant_where} {'AND' if tenant_id else 'WHERE'} remaining IS NOT NULL"
            " AND (reset_at IS NULL OR reset_at > ?)",
            (*params, now),
        ).fetchall()
        by_instance = {(r["tenant_id"], r["id"]): r for r in instances}
        for r in instances:
            labels = {"tenant": r["tenant_id"], "connector": r["connector_id"], "instance": r["display_name"]}
            out.append(("connector_circuit_state", labels, float(CIRCUIT_STATE_VALUES[r["state"]])))
            limits = (
                r["rate_limits"]
                if isinstance(r["rate_limits"], dict)
                else json.loads(r["rate_limits"] or "{}")
            )
            for window, field_name in (("minute", "requestsPerMinute"), ("hour", "requestsPerHour")):
                capacity = int(limits.get(field_name) or 0)
                if capacity <= 0:
                    continue
                b = buckets.get((r["tenant_id"], r["id"], WINDOWS[window]))
                used = int(b["used"]) if b is not None and now < b["window_start"] + WINDOWS[window] else 0
                out.append(
                    (
                        "connector_rate_limit_remaining",
                        {**labels, "scope": "connector", "window": window},
                        float(max(0, capacity - used)),
                    )
                )
            expires = r["expires_at"]
            if expires is not None:
                expires = expires if isinstance(expires, float | int) else expires.timestamp()
                out.append(("connector_credential_expiry_seconds", labels, round(expires - now, 3)))
        for p in provider:
            inst = by_instance.get((p["tenant_id"], p["instance_id"]))
            if inst is None:
                continue
            labels = {
                "tenant": inst["tenant_id"],
                "connector": inst["connector_id"],
                "instance": inst["display_name"],
                "scope": "external",
                "window": p["resource"],
            }
            out.append(("connector_rate_limit_remaining", labels, float(p["remaining"])))
        return out

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
        where: list[str] = ["tenant_id = ?"]
        params: list[Any] = [tenant_id]
        for column, value in (("instance_ref", instance_id), ("action", action), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            where.append("created_at >= ?")
            params.append(since)
        rows = self.conn.execute(
            f"SELECT * FROM gw_audit WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC LIMIT ?",
            (*params, int(limit)),
        ).fetchall()
        return [dict(r) for r in rows]
