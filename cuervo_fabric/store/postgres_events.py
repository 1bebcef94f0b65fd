"""``PostgresEventStore``: the event log, subscribers, deliveries and webhook tables on PostgreSQL.

The same semantics as ``SqliteEventStore``, on the ``PostgresStore``'s connection:

* **The outbox.** ``with events.transaction(): ...`` opens one transaction (as the owner) or joins
  the one already open on the connection; every store call inside it is a savepoint of it, so the
  change and the events it caused commit together or not at all.
* **Tenants.** Work on one tenant's rows runs through ``PostgresStore.tenant()``, as the non-owner
  role under row-level security; work the workers do across tenants (a subscriber of every tenant,
  leasing due deliveries, finding an inbound endpoint by instance id, key rotation) runs through
  ``PostgresStore.owner()``. Appended events are written per tenant, under RLS.
* **The log's order.** PostgreSQL hands out identity values before commit, so two concurrent
  appenders could commit ``seq`` out of order and a subscriber's cursor could step over the
  later-committed, lower ``seq``. Appenders therefore take a transaction-scoped advisory lock (one
  per schema) before inserting, as SQLite's single writer does: a lock is released only after its
  commit is visible, so committed events always form a prefix of ``seq`` and cursors never skip.
* **Leases.** ``claim`` locks the subscribers it serves (in id order, so claimers never deadlock)
  and takes the due deliveries ``FOR UPDATE SKIP LOCKED``; a lease is ``next_attempt_at`` pushed
  forward, so a killed worker's deliveries come due again by themselves.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from cuervo_fabric.domain.models import IntegrationEvent
from cuervo_fabric.domain.subscriptions import (
    ALL_TENANTS,
    EventDelivery,
    Sealed,
    StoredEvent,
    Subscriber,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookSubscription,
)
from cuervo_fabric.domain.timeutil import iso, now_iso
from cuervo_fabric.errors import InvalidInputError
from cuervo_fabric.ports import AppendResult, CredentialRecord, DeliveryUpdate
from cuervo_fabric.store._event_rows import (
    DELIVERY_COLS,
    EVENT_COLS,
    attempt_from_row,
    delivery_from_row,
    endpoint_from_row,
    event_from_row,
    subscriber_from_row,
    subscription_from_row,
)
from cuervo_fabric.store._rows import changed_since, dumps
from cuervo_fabric.store.postgres import PostgresStore, _to_dt

__all__ = ["PostgresEventStore"]

Cursor = psycopg.Cursor[dict[str, Any]]

#: Serialises appenders of one schema (see the module docstring).
_APPEND_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtextextended('cuervo-fabric events ' || current_schema(), 0))"
)


def _like(pattern: str) -> str:
    """A validated event pattern (only ``*`` is special) as a ``LIKE`` pattern."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def _globs(column: str, patterns: Sequence[str]) -> tuple[str, list[str]]:
    """``(col LIKE %s OR ...)``, the PostgreSQL spelling of SQLite's ``GLOB``."""
    if not patterns or "*" in patterns:
        return "true", []
    return "(" + " OR ".join(f"{column} LIKE %s" for _ in patterns) + ")", [_like(p) for p in patterns]


class PostgresEventStore:
    """The PostgreSQL adapter of the ``EventStore`` and ``WebhookStore`` ports."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """One transaction (as the owner), or a savepoint of the one already open."""
        with self.store.owner() as cur:
            yield cur

    def _tenant(self, tenant_id: str) -> contextlib.AbstractContextManager[Cursor]:
        return self.store.tenant(tenant_id)

    def _owner(self) -> contextlib.AbstractContextManager[Cursor]:
        return self.store.owner()

    # ------------------------------------------------------------------ the log
    def append_events(
        self, events: Sequence[IntegrationEvent], *, target_subscriber: str | None = None
    ) -> list[AppendResult]:
        if not events:
            return []
        out: list[AppendResult | None] = [None] * len(events)
        by_tenant: dict[str, list[int]] = {}
        for i, ev in enumerate(events):
            by_tenant.setdefault(ev.tenant_id, []).append(i)
        with self.transaction() as cur:
            cur.execute(_APPEND_LOCK)
            for tenant, indexes in by_tenant.items():
                with self._tenant(tenant) as tcur:
                    self._append_tenant(tcur, events, indexes, target_subscriber, out)
        return [r for r in out if r is not None]

    def _append_tenant(
        self,
        cur: Cursor,
        events: Sequence[IntegrationEvent],
        indexes: list[int],
        target_subscriber: str | None,
        out: list[AppendResult | None],
    ) -> None:
        """Append one tenant's events (under RLS); duplicates point at the original."""
        repeats: list[tuple[int, int]] = []
        first_by_id: dict[str, int] = {}
        first_by_delivery: dict[tuple[str, str], int] = {}
        fresh: list[int] = []
        for i in indexes:
            ev = events[i]
            dkey = (ev.source, ev.original_webhook_id) if ev.original_webhook_id is not None else None
            j = first_by_id.get(ev.id)
            if j is None and dkey is not None:
                j = first_by_delivery.get(dkey)
            if j is not None:
                repeats.append((i, j))
                continue
            fresh.append(i)
            first_by_id[ev.id] = i
            if dkey is not None:
                first_by_delivery[dkey] = i
        for start in range(0, len(fresh), 500):
            chunk = fresh[start : start + 500]
            values: list[Any] = []
            for i in chunk:
                ev = events[i]
                values += [
                    ev.id,
                    ev.tenant_id,
                    ev.type,
                    ev.source,
                    json.dumps(ev.data, separators=(",", ":")),
                    ev.correlation_id,
                    ev.connector_id,
                    ev.connector_version,
                    _to_dt(ev.timestamp),
                    ev.original_webhook_id,
                    target_subscriber,
                ]
            marks = ",".join(["(%s,%s,%s,%s,%s::jsonb,%s,%s,%s,%s,%s,%s)"] * len(chunk))
            # ON CONFLICT DO NOTHING: a known id or provider delivery id is not inserted again
            # (and a concurrent appender of the same delivery waits for ours, then skips it).
            rows = cur.execute(
                "INSERT INTO integration_events (id, tenant_id, type, source, data, correlation_id,"
                " connector_id, connector_version, created_at, original_webhook_id,"
                f" target_subscriber) VALUES {marks} ON CONFLICT DO NOTHING RETURNING id, seq",
                values,
            ).fetchall()
            inserted = {r["id"]: int(r["seq"]) for r in rows}
            for i in chunk:
                ev = events[i]
                if ev.id in inserted:
                    out[i] = AppendResult(ev.id, inserted[ev.id])
                    continue
                prior = cur.execute(
                    "SELECT id, seq FROM integration_events WHERE id = %s"
                    " OR (tenant_id = %s AND source = %s AND original_webhook_id = %s) LIMIT 1",
                    (ev.id, ev.tenant_id, ev.source, ev.original_webhook_id),
                ).fetchone()
                if prior is None:
                    raise InvalidInputError(f"event id {ev.id!r} is already taken")
                out[i] = AppendResult(prior["id"], int(prior["seq"]), duplicate=True)
        for i, j in repeats:
            original = out[j]
            assert original is not None
            out[i] = AppendResult(original.event_id, original.seq, duplicate=True)

    def list_events(
        self,
        tenant_id: str,
        *,
        patterns: Sequence[str] = (),
        since: str | None = None,
        after_seq: int = 0,
        source: str | None = None,
        limit: int = 50,
        newest_first: bool = True,
    ) -> list[StoredEvent]:
        where, params = _globs("type", patterns)
        query = f"SELECT {EVENT_COLS} FROM integration_events WHERE tenant_id = %s AND seq > %s AND {where}"
        args: list[Any] = [tenant_id, after_seq, *params]
        if since is not None:
            query += " AND created_at >= %s"
            args.append(_to_dt(since))
        if source is not None:
            query += " AND source = %s"
            args.append(source)
        query += f" ORDER BY seq {'DESC' if newest_first else 'ASC'} LIMIT %s"
        args.append(limit)
        with self._tenant(tenant_id) as cur:
            return [event_from_row(r) for r in cur.execute(query, args).fetchall()]

    def get_event(self, tenant_id: str, ref: str) -> StoredEvent | None:
        with self._tenant(tenant_id) as cur:
            if ref.isdigit() and int(ref) < 2**63:
                row = cur.execute(
                    f"SELECT {EVENT_COLS} FROM integration_events WHERE tenant_id = %s AND seq = %s",
                    (tenant_id, int(ref)),
                ).fetchone()
                if row is not None:
                    return event_from_row(row)
            rows = cur.execute(
                f"SELECT {EVENT_COLS} FROM integration_events WHERE tenant_id = %s AND id = %s",
                (tenant_id, ref),
            ).fetchall()
            if not rows and len(ref) >= 8:
                rows = cur.execute(
                    f"SELECT {EVENT_COLS} FROM integration_events WHERE tenant_id = %s AND id LIKE %s"
                    " LIMIT 2",
                    (tenant_id, _like(ref.replace("*", "")) + "%"),
                ).fetchall()
        if len(rows) > 1:
            raise InvalidInputError(f"{ref!r} matches several events; give more of the id")
        return event_from_row(rows[0]) if rows else None

    def events_by_id(self, event_ids: Sequence[str]) -> dict[str, StoredEvent]:
        ids = list(dict.fromkeys(event_ids))
        if not ids:
            return {}
        with self._owner() as cur:
            rows = cur.execute(
                f"SELECT {EVENT_COLS} FROM integration_events WHERE id = ANY(%s)", (ids,)
            ).fetchall()
        return {r["id"]: event_from_row(r) for r in rows}

    def max_seq(self) -> int:
        with self._owner() as cur:
            row = cur.execute("SELECT coalesce(max(seq), 0) AS top FROM integration_events").fetchone()
        return int(row["top"]) if row else 0

    # ------------------------------------------------------------------ subscribers
    def upsert_subscriber(self, subscriber: Subscriber, *, from_start: bool = False) -> Subscriber:
        now = _to_dt(now_iso())
        s = subscriber
        # An all-tenant subscriber belongs to no tenant: only the owner may write it.
        scope = self._owner() if s.tenant_id == ALL_TENANTS else self._tenant(s.tenant_id)
        with scope as cur:
            row = cur.execute(
                "SELECT id FROM event_subscribers WHERE tenant_id = %s AND name = %s",
                (s.tenant_id, s.name),
            ).fetchone()
            if row is None:
                cursor = 0 if from_start else self.max_seq()
                cur.execute(
                    "INSERT INTO event_subscribers (id, tenant_id, name, kind, patterns, ordered,"
                    " concurrency, retry_policy, cursor_seq, active, created_at, updated_at)"
                    " VALUES (%s,%s,%s,%s,%s::jsonb,%s,%s,%s::jsonb,%s,%s,%s,%s)",
                    (
                        s.id,
                        s.tenant_id,
                        s.name,
                        s.kind,
                        dumps(list(s.patterns)),
                        s.ordered,
                        s.concurrency,
                        dumps(s.policy.to_dict()),
                        cursor,
                        s.active,
                        now,
                        now,
                    ),
                )
                sid = s.id
            else:
                sid = row["id"]
                cur.execute(
                    "UPDATE event_subscribers SET patterns = %s::jsonb, ordered = %s, concurrency = %s,"
                    " retry_policy = %s::jsonb, active = %s, updated_at = %s WHERE id = %s",
                    (
                        dumps(list(s.patterns)),
                        s.ordered,
                        s.concurrency,
                        dumps(s.policy.to_dict()),
                        s.active,
                        now,
                        sid,
                    ),
                )
            found = cur.execute("SELECT * FROM event_subscribers WHERE id = %s", (sid,)).fetchone()
        assert found is not None
        return subscriber_from_row(found)

    def get_subscriber(self, subscriber_id: str) -> Subscriber | None:
        with self._owner() as cur:
            row = cur.execute("SELECT * FROM event_subscribers WHERE id = %s", (subscriber_id,)).fetchone()
        return subscriber_from_row(row) if row else None

    def list_subscribers(self, tenant_id: str | None = None, *, kind: str | None = None) -> list[Subscriber]:
        query, args = "SELECT * FROM event_subscribers WHERE true", []
        if tenant_id is not None:
            query += " AND tenant_id IN (%s, %s)"
            args += [tenant_id, ALL_TENANTS]
        if kind is not None:
            query += " AND kind = %s"
            args.append(kind)
        # The owner: a tenant also sees the all-tenant subscribers, which RLS would hide.
        with self._owner() as cur:
            rows = cur.execute(query + " ORDER BY created_at, id", args).fetchall()
        return [subscriber_from_row(r) for r in rows]

    def delete_subscriber(self, subscriber_id: str) -> bool:
        with self._owner() as cur:
            cur.execute("DELETE FROM event_subscribers WHERE id = %s", (subscriber_id,))
            return cur.rowcount > 0

    # ------------------------------------------------------------------ deliveries
    def materialize(self, subscriber_ids: Sequence[str], now: float, *, limit: int = 5000) -> int:
        top = self.max_seq()
        created = 0
        stamp = _to_dt(iso(now))
        for sid in subscriber_ids:
            with self._owner() as cur:
                row = cur.execute(
                    "SELECT * FROM event_subscribers WHERE id = %s AND active AND cursor_seq < %s FOR UPDATE",
                    (sid, top),
                ).fetchone()
                if row is None:
                    continue  # nothing new (or gone): nothing written
                sub = subscriber_from_row(row)
                hi = min(top, sub.cursor_seq + limit)
                where, params = _globs("e.type", sub.patterns)
                tenant_sql = "true" if sub.tenant_id == ALL_TENANTS else "e.tenant_id = %s"
                tenant_args = [] if sub.tenant_id == ALL_TENANTS else [sub.tenant_id]
                cur.execute(
                    "INSERT INTO event_deliveries (subscriber_id, tenant_id, event_id,"
                    " event_seq, event_type, status, attempts, next_attempt_at, created_at, updated_at)"
                    " SELECT %s, e.tenant_id, e.id, e.seq, e.type, 'pending', 0, %s, %s, %s"
                    f" FROM integration_events e WHERE e.seq > %s AND e.seq <= %s AND {tenant_sql}"
                    f" AND ((e.target_subscriber IS NULL AND {where}) OR e.target_subscriber = %s)"
                    " ORDER BY e.seq ON CONFLICT (subscriber_id, event_id) DO NOTHING",
                    [sid, now, stamp, stamp, sub.cursor_seq, hi, *tenant_args, *params, sid],
                )
                created += max(cur.rowcount, 0)
                cur.execute("UPDATE event_subscribers SET cursor_seq = %s WHERE id = %s", (hi, sid))
        return created

    def claim(
        self,
        subscriber_ids: Sequence[str],
        owner: str,
        now: float,
        lease_s: float,
        limit: int,
        *,
        due_by: float | None = None,
    ) -> list[EventDelivery]:
        if not subscriber_ids or limit <= 0:
            return []
        stamp = _to_dt(iso(now))
        due = now if due_by is None else min(now, due_by)
        with self._owner() as cur:
            # Lock the subscribers (in id order): concurrent claimers for one subscriber take
            # turns, so its concurrency cap and ordering hold across processes.
            subs = [
                subscriber_from_row(r)
                for r in cur.execute(
                    "SELECT * FROM event_subscribers WHERE active AND id = ANY(%s) ORDER BY id FOR UPDATE",
                    (sorted(set(subscriber_ids)),),
                ).fetchall()
            ]
            picked: list[int] = []
            caps: dict[str, int] = {}
            for sub in subs:
                row = cur.execute(
                    "SELECT count(*) AS n FROM event_deliveries WHERE subscriber_id = %s"
                    " AND status = 'pending' AND lease_owner IS NOT NULL AND next_attempt_at > %s",
                    (sub.id, now),
                ).fetchone()
                room = max(0, sub.concurrency - int(row["n"] if row else 0))
                if sub.ordered:
                    head = cur.execute(
                        "SELECT id, next_attempt_at FROM event_deliveries WHERE subscriber_id = %s"
                        " AND status = 'pending' ORDER BY event_seq LIMIT 1",
                        (sub.id,),
                    ).fetchone()
                    if head is not None and head["next_attempt_at"] <= due and len(picked) < limit:
                        picked.append(int(head["id"]))
                elif room:
                    caps[sub.id] = room
            if caps and len(picked) < limit:
                rows = cur.execute(
                    "SELECT id, subscriber_id FROM event_deliveries WHERE status = 'pending'"
                    " AND next_attempt_at <= %s AND subscriber_id = ANY(%s)"
                    " ORDER BY next_attempt_at, id LIMIT %s FOR UPDATE SKIP LOCKED",
                    (due, list(caps), (limit - len(picked)) * 4),
                ).fetchall()
                for r in rows:
                    if len(picked) >= limit:
                        break
                    if caps[r["subscriber_id"]] > 0:
                        caps[r["subscriber_id"]] -= 1
                        picked.append(int(r["id"]))
            if not picked:
                return []
            rows = cur.execute(
                "UPDATE event_deliveries SET lease_owner = %s, next_attempt_at = %s, updated_at = %s"
                f" WHERE id = ANY(%s) AND status = 'pending' RETURNING {DELIVERY_COLS}",
                (owner, now + lease_s, stamp, picked),
            ).fetchall()
        return sorted((delivery_from_row(r) for r in rows), key=lambda d: (d.event_seq, d.id))

    def finish(
        self,
        owner: str,
        updates: Sequence[DeliveryUpdate],
        attempts: Sequence[WebhookAttempt] = (),
    ) -> None:
        if not updates and not attempts:
            return
        stamp = _to_dt(now_iso())
        with self._owner() as cur:
            disabling = [u.delivery_id for u in updates if u.disable_subscriber]
            if disabling:
                # Subscribers before deliveries, as ``claim`` locks them: no deadlock between us.
                cur.execute(
                    "SELECT s.id FROM event_subscribers s WHERE s.id IN (SELECT subscriber_id"
                    " FROM event_deliveries WHERE id = ANY(%s)) ORDER BY s.id FOR UPDATE",
                    (disabling,),
                )
            if updates:
                cur.executemany(
                    "UPDATE event_deliveries SET status = %s, attempts = attempts + 1,"
                    " next_attempt_at = %s, lease_owner = NULL, last_error = %s, last_status = %s,"
                    " updated_at = %s WHERE id = %s AND lease_owner = %s",
                    [
                        (u.status, u.next_attempt_at, u.error, u.http_status, stamp, u.delivery_id, owner)
                        for u in updates
                    ],
                )
            for u in updates:
                if u.disable_subscriber:
                    row = cur.execute(
                        "SELECT subscriber_id FROM event_deliveries WHERE id = %s", (u.delivery_id,)
                    ).fetchone()
                    if row is not None:
                        cur.execute(
                            "UPDATE event_subscribers SET active = false WHERE id = %s",
                            (row["subscriber_id"],),
                        )
                        cur.execute(
                            "UPDATE webhook_subscriptions SET active = false, disabled_reason = %s,"
                            " updated_at = %s WHERE id = %s",
                            (u.error or "disabled", stamp, row["subscriber_id"]),
                        )
            if attempts:
                cur.executemany(
                    "INSERT INTO webhook_deliveries (id, subscription_id, tenant_id, event_id, event_type,"
                    " url, request_headers, request_body, response_status, response_body, duration_ms,"
                    " attempt, success, error, delivered_at, delivery_id)"
                    " VALUES (%s,%s,%s,%s,%s,%s,%s::jsonb,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    [
                        (
                            a.id,
                            a.subscription_id,
                            a.tenant_id,
                            a.event_id,
                            a.event_type,
                            a.url,
                            dumps(a.request_headers),
                            a.request_body,
                            a.response_status,
                            a.response_body,
                            a.duration_ms,
                            a.attempt,
                            a.success,
                            a.error,
                            _to_dt(a.delivered_at),
                            a.delivery_id,
                        )
                        for a in attempts
                    ],
                )
                totals: dict[str, list[Any]] = {}
                for a in attempts:
                    t = totals.setdefault(a.subscription_id, [0, 0, a.delivered_at])
                    t[0] += 1
                    t[1] += 0 if a.success else 1
                    t[2] = max(t[2], a.delivered_at)
                cur.executemany(
                    "UPDATE webhook_subscriptions SET total_deliveries = total_deliveries + %s,"
                    " total_failures = total_failures + %s, last_delivery_at = %s WHERE id = %s",
                    [(n, f, _to_dt(last), sid) for sid, (n, f, last) in sorted(totals.items())],
                )

    def open_counts(self, subscriber_ids: Sequence[str], now: float) -> tuple[int, int]:
        if not subscriber_ids:
            return 0, 0
        with self._owner() as cur:
            row = cur.execute(
                "SELECT count(*) FILTER (WHERE next_attempt_at <= %s) AS due, count(*) AS total"
                " FROM event_deliveries WHERE status = 'pending' AND subscriber_id = ANY(%s)",
                (now, list(subscriber_ids)),
            ).fetchone()
        return (int(row["due"]), int(row["total"])) if row else (0, 0)

    def list_deliveries(
        self,
        tenant_id: str,
        *,
        status: str | None = None,
        subscriber_id: str | None = None,
        event_id: str | None = None,
        limit: int = 50,
    ) -> list[EventDelivery]:
        query = f"SELECT {DELIVERY_COLS} FROM event_deliveries WHERE tenant_id = %s"
        args: list[Any] = [tenant_id]
        for column, value in (("status", status), ("subscriber_id", subscriber_id), ("event_id", event_id)):
            if value is not None:
                query += f" AND {column} = %s"
                args.append(value)
        args.append(limit)
        with self._tenant(tenant_id) as cur:
            rows = cur.execute(query + " ORDER BY id DESC LIMIT %s", args).fetchall()
        return [delivery_from_row(r) for r in rows]

    @staticmethod
    def _dead_filter(tenant_id: str, ids: Sequence[int], subscriber_id: str | None) -> tuple[str, list[Any]]:
        where = "tenant_id = %s AND status = 'dead'"
        args: list[Any] = [tenant_id]
        if ids:
            where += " AND id = ANY(%s)"
            args.append([int(i) for i in ids])
        if subscriber_id is not None:
            where += " AND subscriber_id = %s"
            args.append(subscriber_id)
        return where, args

    def retry_dead(
        self, tenant_id: str, now: float, *, ids: Sequence[int] = (), subscriber_id: str | None = None
    ) -> int:
        where, args = self._dead_filter(tenant_id, ids, subscriber_id)
        with self._tenant(tenant_id) as cur:
            cur.execute(
                "UPDATE event_deliveries SET status = 'pending', attempts = 0, next_attempt_at = %s,"
                f" lease_owner = NULL, updated_at = %s WHERE {where}",
                [now, _to_dt(iso(now)), *args],
            )
            return cur.rowcount

    def purge_dead(
        self,
        tenant_id: str,
        *,
        ids: Sequence[int] = (),
        subscriber_id: str | None = None,
        before: str | None = None,
    ) -> int:
        where, args = self._dead_filter(tenant_id, ids, subscriber_id)
        if before is not None:
            where += " AND updated_at < %s"
            args.append(_to_dt(before))
        with self._tenant(tenant_id) as cur:
            cur.execute(f"DELETE FROM event_deliveries WHERE {where}", args)
            return cur.rowcount

    def requeue(
        self, tenant_id: str, subscriber_ids: Sequence[str], patterns: Sequence[str], since: str, now: float
    ) -> int:
        stamp = _to_dt(iso(now))
        total = 0
        with self.transaction():
            for sid in subscriber_ids:
                sub = self.get_subscriber(sid)  # may be an all-tenant one: read as the owner
                if sub is None or sub.tenant_id not in (tenant_id, ALL_TENANTS):
                    continue
                own, own_args = _globs("e.type", sub.patterns)
                asked, asked_args = _globs("e.type", patterns)
                # The deliveries written are the tenant's own: under RLS.
                with self._tenant(tenant_id) as cur:
                    cur.execute(
                        "INSERT INTO event_deliveries (subscriber_id, tenant_id, event_id, event_seq,"
                        " event_type, status, attempts, next_attempt_at, created_at, updated_at)"
                        " SELECT %s, e.tenant_id, e.id, e.seq, e.type, 'pending', 0, %s, %s, %s"
                        " FROM integration_events e WHERE e.tenant_id = %s AND e.created_at >= %s"
                        f" AND e.seq <= %s AND {asked}"
                        f" AND ((e.target_subscriber IS NULL AND {own}) OR e.target_subscriber = %s)"
                        " ON CONFLICT (subscriber_id, event_id) DO UPDATE SET status = 'pending',"
                        " attempts = 0, next_attempt_at = excluded.next_attempt_at, lease_owner = NULL,"
                        " updated_at = excluded.updated_at",
                        [
                            sid,
                            now,
                            stamp,
                            stamp,
                            tenant_id,
                            _to_dt(since),
                            sub.cursor_seq,
                            *asked_args,
                            *own_args,
                            sid,
                        ],
                    )
                    total += max(cur.rowcount, 0)
        return total

    # ------------------------------------------------------------------ outgoing webhooks
    def insert_subscription(self, subscription: WebhookSubscription, subscriber: Subscriber) -> None:
        s = subscription
        with self.store.fenced(s.tenant_id, s.sealed.key_id) as cur:
            self.upsert_subscriber(subscriber)
            cur.execute(
                "INSERT INTO webhook_subscriptions (id, tenant_id, url, events, secret_hash, active,"
                " custom_headers, retry_policy, created_by, created_at, sealed_secrets, sealed_key,"
                " sealed_key_id, timeout_ms, description, updated_at)"
                " VALUES (%s,%s,%s,%s::jsonb,%s,%s,%s::jsonb,%s::jsonb,%s,%s,%s,%s,%s,%s,%s,%s)",
                (
                    s.id,
                    s.tenant_id,
                    s.url,
                    dumps(list(s.events)),
                    s.secret_hash,
                    s.active,
                    dumps(dict.fromkeys(s.header_names, "(sealed)")),
                    dumps(s.policy.to_dict()),
                    s.created_by,
                    _to_dt(s.created_at),
                    s.sealed.ciphertext,
                    s.sealed.wrapped_key,
                    s.sealed.key_id,
                    s.timeout_ms,
                    s.description,
                    _to_dt(s.created_at),
                ),
            )

    def get_subscription(self, tenant_id: str, ref: str) -> WebhookSubscription | None:
        with self._tenant(tenant_id) as cur:
            row = cur.execute(
                "SELECT * FROM webhook_subscriptions WHERE tenant_id = %s AND id = %s", (tenant_id, ref)
            ).fetchone()
            if row is not None:
                return subscription_from_row(row)
            if len(ref) < 4:
                return None
            rows = cur.execute(
                "SELECT * FROM webhook_subscriptions WHERE tenant_id = %s AND id LIKE %s LIMIT 2",
                (tenant_id, _like(ref.replace("*", "")) + "%"),
            ).fetchall()
        if len(rows) > 1:
            raise InvalidInputError(f"{ref!r} matches several webhooks; give more of the id")
        return subscription_from_row(rows[0]) if rows else None

    def subscriptions_by_id(self, ids: Sequence[str]) -> dict[str, WebhookSubscription]:
        if not ids:
            return {}
        with self._owner() as cur:  # the dispatcher's: every tenant's
            rows = cur.execute(
                "SELECT * FROM webhook_subscriptions WHERE id = ANY(%s)", (list(ids),)
            ).fetchall()
        return {r["id"]: subscription_from_row(r) for r in rows}

    def list_subscriptions(self, tenant_id: str | None) -> list[WebhookSubscription]:
        if tenant_id is None:
            with self._owner() as cur:
                rows = cur.execute("SELECT * FROM webhook_subscriptions ORDER BY created_at, id").fetchall()
        else:
            with self._tenant(tenant_id) as cur:
                rows = cur.execute(
                    "SELECT * FROM webhook_subscriptions WHERE tenant_id = %s ORDER BY created_at, id",
                    (tenant_id,),
                ).fetchall()
        return [subscription_from_row(r) for r in rows]

    def delete_subscription(self, tenant_id: str, subscription_id: str) -> bool:
        with self._tenant(tenant_id) as cur:
            cur.execute(
                "DELETE FROM webhook_subscriptions WHERE tenant_id = %s AND id = %s",
                (tenant_id, subscription_id),
            )
            gone = cur.rowcount
            if gone:
                cur.execute(
                    "DELETE FROM event_subscribers WHERE tenant_id = %s AND id = %s AND kind = 'webhook'",
                    (tenant_id, subscription_id),
                )
        return gone > 0

    def update_subscription_secrets(
        self, tenant_id: str, subscription_id: str, sealed: Sealed, secret_hash: str
    ) -> bool:
        with self.store.fenced(tenant_id, sealed.key_id) as cur:
            cur.execute(
                "UPDATE webhook_subscriptions SET sealed_secrets = %s, sealed_key = %s, sealed_key_id = %s,"
                " secret_hash = %s, updated_at = %s WHERE tenant_id = %s AND id = %s",
                (
                    sealed.ciphertext,
                    sealed.wrapped_key,
                    sealed.key_id,
                    secret_hash,
                    _to_dt(now_iso()),
                    tenant_id,
                    subscription_id,
                ),
            )
            return cur.rowcount > 0

    def set_subscription_active(
        self, tenant_id: str, subscription_id: str, active: bool, reason: str | None = None
    ) -> bool:
        with self._tenant(tenant_id) as cur:
            cur.execute(
                "UPDATE webhook_subscriptions SET active = %s, disabled_reason = %s, updated_at = %s"
                " WHERE tenant_id = %s AND id = %s",
                (active, None if active else reason, _to_dt(now_iso()), tenant_id, subscription_id),
            )
            changed = cur.rowcount
            cur.execute(
                "UPDATE event_subscribers SET active = %s"
                " WHERE tenant_id = %s AND id = %s AND kind = 'webhook'",
                (active, tenant_id, subscription_id),
            )
            return changed > 0

    def list_attempts(
        self, tenant_id: str, subscription_id: str, *, limit: int = 50, event_id: str | None = None
    ) -> list[WebhookAttempt]:
        query = "SELECT * FROM webhook_deliveries WHERE tenant_id = %s AND subscription_id = %s"
        args: list[Any] = [tenant_id, subscription_id]
        if event_id is not None:
            query += " AND event_id = %s"
            args.append(event_id)
        args.append(limit)
        # ctid stands in for SQLite's rowid: the later of two attempts at the same instant first.
        with self._tenant(tenant_id) as cur:
            rows = cur.execute(
                query + " ORDER BY delivered_at DESC, attempt DESC, ctid DESC LIMIT %s", args
            ).fetchall()
        return [attempt_from_row(r) for r in rows]

    # ------------------------------------------------------------------ inbound endpoints
    def put_endpoint(self, endpoint: WebhookEndpoint) -> None:
        e = endpoint
        with self.store.fenced(e.tenant_id, e.sealed.key_id) as cur:
            cur.execute(
                "INSERT INTO webhook_endpoints (instance_id, tenant_id, connector_id, token_hash,"
                " sealed_secret, sealed_key, sealed_key_id, secret_source, created_at, updated_at)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (instance_id) DO UPDATE SET"
                " token_hash = excluded.token_hash, sealed_secret = excluded.sealed_secret,"
                " sealed_key = excluded.sealed_key, sealed_key_id = excluded.sealed_key_id,"
                " secret_source = excluded.secret_source, updated_at = excluded.updated_at",
                (
                    e.instance_id,
                    e.tenant_id,
                    e.connector_id,
                    e.token_hash,
                    e.sealed.ciphertext,
                    e.sealed.wrapped_key,
                    e.sealed.key_id,
                    e.secret_source,
                    _to_dt(e.created_at),
                    _to_dt(e.updated_at),
                ),
            )

    def get_endpoint(self, instance_id: str) -> WebhookEndpoint | None:
        # The owner: the receiver learns the tenant from the endpoint it finds.
        with self._owner() as cur:
            row = cur.execute(
                "SELECT * FROM webhook_endpoints WHERE instance_id = %s", (instance_id,)
            ).fetchone()
        return endpoint_from_row(row) if row else None

    def delete_endpoint(self, tenant_id: str, instance_id: str) -> bool:
        with self._tenant(tenant_id) as cur:
            cur.execute(
                "DELETE FROM webhook_endpoints WHERE tenant_id = %s AND instance_id = %s",
                (tenant_id, instance_id),
            )
            return cur.rowcount > 0

    def touch_endpoints(self, received: dict[str, int], at: str) -> None:
        if not received:
            return
        with self._owner() as cur:
            cur.executemany(
                "UPDATE webhook_endpoints SET total_received = total_received + %s, last_received_at = %s"
                " WHERE instance_id = %s",
                [(n, _to_dt(at), iid) for iid, n in sorted(received.items())],
            )

    # ------------------------------------------------------------------ master key rotation
    def iter_sealed(self) -> list[CredentialRecord]:
        """Every webhook secret sealed by the vault, as records ``Vault.rotate`` can re-wrap.

        ``instance_id`` is the vault subject each was sealed under.
        """
        with self._owner() as cur:
            endpoints = cur.execute("SELECT * FROM webhook_endpoints ORDER BY instance_id").fetchall()
            subscriptions = cur.execute("SELECT * FROM webhook_subscriptions ORDER BY id").fetchall()
        out = [
            CredentialRecord(
                instance_id=f"webhook-endpoint:{r['instance_id']}",
                tenant_id=r["tenant_id"],
                credential_type="none",
                encrypted_data=bytes(r["sealed_secret"]),
                wrapped_key=bytes(r["sealed_key"]),
                encryption_key_id=r["sealed_key_id"],
            )
            for r in endpoints
        ]
        out += [
            CredentialRecord(
                instance_id=f"webhook-subscription:{r['id']}",
                tenant_id=r["tenant_id"],
                credential_type="none",
                encrypted_data=bytes(r["sealed_secrets"]),
                wrapped_key=bytes(r["sealed_key"]),
                encryption_key_id=r["sealed_key_id"],
            )
            for r in subscriptions
            if r["sealed_secrets"] is not None
        ]
        return out

    def replace_sealed(
        self, records: Sequence[CredentialRecord], *, expected: Mapping[tuple[str, str], bytes] | None = None
    ) -> list[CredentialRecord]:
        """Write re-wrapped keys back (joins an open transaction, e.g. the credentials').

        ``expected`` makes it a compare-and-swap, as ``Store.replace_credentials``: ``(tenant,
        subject) -> wrapped_key`` as the rotation read them. When any sealed secret differs from it
        (written or added since), nothing is written and those secrets, as they are now, are
        returned. ``[]`` means written. Atomic when the enclosing transaction holds the
        ``vault_state`` row ``FOR UPDATE`` (the rotation's): fenced writers hold it ``FOR SHARE``.
        """
        with self._owner() as cur:
            if expected is not None:
                changed = changed_since(self.iter_sealed(), expected)
                if changed:
                    return changed
            for r in records:
                kind, _, ident = r.instance_id.partition(":")
                table, key = (
                    ("webhook_endpoints", "instance_id")
                    if kind == "webhook-endpoint"
                    else ("webhook_subscriptions", "id")
                )
                guard: sql.Composable = sql.SQL("")
                params: tuple[bytes | None, ...] = ()
                if expected is not None:
                    guard = sql.SQL(" AND sealed_key = %s")
                    params = (expected.get((r.tenant_id, r.instance_id)),)
                cur.execute(
                    sql.SQL(
                        "UPDATE {} SET sealed_key = %s, sealed_key_id = %s WHERE tenant_id = %s AND {} = %s{}"
                    ).format(sql.Identifier(table), sql.Identifier(key), guard),
                    (r.wrapped_key, r.encryption_key_id, r.tenant_id, ident, *params),
                )
        return []
