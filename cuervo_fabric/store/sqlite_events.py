"""``SqliteEventStore``: the event log, subscribers, deliveries and webhook tables on SQLite.

It shares the ``SqliteStore``'s connection, so ``with events.transaction(): ...`` around any store
change and ``append_events`` commits both or neither (the transactional outbox). Writers take the
lock up front (``BEGIN IMMEDIATE``); claims are one conditional ``UPDATE ... RETURNING`` under it,
so two workers never lease the same delivery, and a lease is just ``next_attempt_at`` pushed
forward, so a killed worker's deliveries come due again by themselves.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

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
from cuervo_fabric.store.sqlite import SqliteStore

__all__ = ["SqliteEventStore"]


def _globs(column: str, patterns: Sequence[str]) -> tuple[str, list[str]]:
    """``(col GLOB ? OR ...)`` for validated patterns (only ``*`` is special in them)."""
    if not patterns or "*" in patterns:
        return "1", []
    return "(" + " OR ".join(f"{column} GLOB ?" for _ in patterns) + ")", list(patterns)


class SqliteEventStore:
    """The SQLite adapter of the ``EventStore`` and ``WebhookStore`` ports."""

    def __init__(self, store: SqliteStore, *, synchronous: str | None = None) -> None:
        self.store = store
        self.conn = store.conn
        if synchronous is not None:
            # FULL: a commit survives a power cut, not only a killed process (the receiver).
            if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
                raise InvalidInputError(f"unknown synchronous mode {synchronous!r}")
            self.conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """``BEGIN IMMEDIATE``, or join the transaction already open on this connection."""
        return self.store.transaction()

    # ------------------------------------------------------------------ the log
    def append_events(
        self, events: Sequence[IntegrationEvent], *, target_subscriber: str | None = None
    ) -> list[AppendResult]:
        # A handful of statements per batch, not two per event: every statement releases and
        # retakes the GIL, which under load (the receiver's writer thread next to the event loop)
        # costs far more than the SQL itself.
        if not events:
            return []
        out: list[AppendResult | None] = [None] * len(events)
        with self.transaction() as conn:
            known = self._known(conn, events)
            fresh: list[int] = []
            repeats: list[tuple[int, int]] = []  # (index, index of its first occurrence here)
            first_by_id: dict[str, int] = {}
            first_by_delivery: dict[tuple[str, str, str], int] = {}
            for i, ev in enumerate(events):
                dkey = None
                if ev.original_webhook_id is not None:
                    dkey = (ev.tenant_id, ev.source, ev.original_webhook_id)
                prior = known.get(("id", ev.id)) or (known.get(("delivery", *dkey)) if dkey else None)
                if prior is not None:
                    out[i] = AppendResult(prior[0], prior[1], duplicate=True)
                    continue
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
            if fresh:
                cols = 11
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
                            ev.timestamp,
                            ev.original_webhook_id,
                            target_subscriber,
                        ]
                    marks = ",".join(["(" + ",".join("?" * cols) + ")"] * len(chunk))
                    conn.execute(
                        "INSERT INTO integration_events (id, tenant_id, type, source, data, correlation_id,"
                        " connector_id, connector_version, created_at, original_webhook_id,"
                        f" target_subscriber) VALUES {marks}",
                        values,
                    )
                    # One writer at a time (BEGIN IMMEDIATE) and AUTOINCREMENT: the rows just
                    # inserted got consecutive positions ending at the last one.
                    last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
                    for offset, i in enumerate(chunk):
                        out[i] = AppendResult(events[i].id, last - len(chunk) + 1 + offset)
            for i, j in repeats:
                original = out[j]
                assert original is not None
                out[i] = AppendResult(original.event_id, original.seq, duplicate=True)
        return [r for r in out if r is not None]

    @staticmethod
    def _known(
        conn: sqlite3.Connection, events: Sequence[IntegrationEvent]
    ) -> dict[tuple[str, ...], tuple[str, int]]:
        """Events already logged: by id, and by (tenant, source, provider delivery id)."""
        known: dict[tuple[str, ...], tuple[str, int]] = {}
        ids = [ev.id for ev in events]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for eid, seq in conn.execute(
                f"SELECT id, seq FROM integration_events WHERE id IN ({','.join('?' * len(chunk))})", chunk
            ).fetchall():
                known[("id", eid)] = (eid, int(seq))
        groups: dict[tuple[str, str], list[str]] = {}
        for ev in events:
            if ev.original_webhook_id is not None:
                groups.setdefault((ev.tenant_id, ev.source), []).append(ev.original_webhook_id)
        for (tenant, source), deliveries in groups.items():
            for start in range(0, len(deliveries), 500):
                chunk = deliveries[start : start + 500]
                for wid, eid, seq in conn.execute(
                    "SELECT original_webhook_id, id, seq FROM integration_events WHERE tenant_id = ?"
                    f" AND source = ? AND original_webhook_id IN ({','.join('?' * len(chunk))})",
                    [tenant, source, *chunk],
                ).fetchall():
                    known[("delivery", tenant, source, wid)] = (eid, int(seq))
        return known

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
        sql = f"SELECT {EVENT_COLS} FROM integration_events WHERE tenant_id = ? AND seq > ? AND {where}"
        args: list[Any] = [tenant_id, after_seq, *params]
        if since is not None:
            sql += " AND created_at >= ?"
            args.append(since)
        if source is not None:
            sql += " AND source = ?"
            args.append(source)
        sql += f" ORDER BY seq {'DESC' if newest_first else 'ASC'} LIMIT ?"
        args.append(limit)
        return [event_from_row(r) for r in self.conn.execute(sql, args).fetchall()]

    def get_event(self, tenant_id: str, ref: str) -> StoredEvent | None:
        if ref.isdigit():
            row = self.conn.execute(
                f"SELECT {EVENT_COLS} FROM integration_events WHERE tenant_id = ? AND seq = ?",
                (tenant_id, int(ref)),
            ).fetchone()
            if row is not None:
                return event_from_row(row)
        rows = self.conn.execute(
            f"SELECT {EVENT_COLS} FROM integration_events WHERE tenant_id = ? AND id = ?",
            (tenant_id, ref),
        ).fetchall()
        if not rows and len(ref) >= 8:
            rows = self.conn.execute(
                f"SELECT {EVENT_COLS} FROM integration_events WHERE tenant_id = ? AND id LIKE ? LIMIT 2",
                (tenant_id, ref.replace("%", "").replace("_", "") + "%"),
            ).fetchall()
        if len(rows) > 1:
            raise InvalidInputError(f"{ref!r} matches several events; give more of the id")
        return event_from_row(rows[0]) if rows else None

    def events_by_id(self, event_ids: Sequence[str]) -> dict[str, StoredEvent]:
        out: dict[str, StoredEvent] = {}
        ids = list(dict.fromkeys(event_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" for _ in chunk)
            for row in self.conn.execute(
                f"SELECT {EVENT_COLS} FROM integration_events WHERE id IN ({marks})", chunk
            ).fetchall():
                out[row["id"]] = event_from_row(row)
        return out

    def max_seq(self) -> int:
        row = self.conn.execute("SELECT coalesce(max(seq), 0) FROM integration_events").fetchone()
        return int(row[0])

    # ------------------------------------------------------------------ subscribers
    def upsert_subscriber(self, subscriber: Subscriber, *, from_start: bool = False) -> Subscriber:
        now = now_iso()
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT id FROM event_subscribers WHERE tenant_id = ? AND name = ?",
                (subscriber.tenant_id, subscriber.name),
            ).fetchone()
            if row is None:
                cursor = 0 if from_start else self.max_seq()
                conn.execute(
                    "INSERT INTO event_subscribers (id, tenant_id, name, kind, patterns, ordered,"
                    " concurrency, retry_policy, cursor_seq, active, created_at, updated_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        subscriber.id,
                        subscriber.tenant_id,
                        subscriber.name,
                        subscriber.kind,
                        dumps(list(subscriber.patterns)),
                        int(subscriber.ordered),
                        subscriber.concurrency,
                        dumps(subscriber.policy.to_dict()),
                        cursor,
                        int(subscriber.active),
                        now,
                        now,
                    ),
                )
                sid = subscriber.id
            else:
                sid = row["id"]
                conn.execute(
                    "UPDATE event_subscribers SET patterns = ?, ordered = ?, concurrency = ?,"
                    " retry_policy = ?, active = ?, updated_at = ? WHERE id = ?",
                    (
                        dumps(list(subscriber.patterns)),
                        int(subscriber.ordered),
                        subscriber.concurrency,
                        dumps(subscriber.policy.to_dict()),
                        int(subscriber.active),
                        now,
                        sid,
                    ),
                )
        found = self.get_subscriber(sid)
        assert found is not None
        return found

    def get_subscriber(self, subscriber_id: str) -> Subscriber | None:
        row = self.conn.execute("SELECT * FROM event_subscribers WHERE id = ?", (subscriber_id,)).fetchone()
        return subscriber_from_row(row) if row else None

    def list_subscribers(self, tenant_id: str | None = None, *, kind: str | None = None) -> list[Subscriber]:
        sql, args = "SELECT * FROM event_subscribers WHERE 1", []
        if tenant_id is not None:
            sql += " AND tenant_id IN (?, ?)"
            args += [tenant_id, ALL_TENANTS]
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        return [
            subscriber_from_row(r)
            for r in self.conn.execute(sql + " ORDER BY created_at, id", args).fetchall()
        ]

    def delete_subscriber(self, subscriber_id: str) -> bool:
        with self.transaction() as conn:
            return conn.execute("DELETE FROM event_subscribers WHERE id = ?", (subscriber_id,)).rowcount > 0

    # ------------------------------------------------------------------ deliveries
    def materialize(self, subscriber_ids: Sequence[str], now: float, *, limit: int = 5000) -> int:
        top = self.max_seq()
        created = 0
        for sid in subscriber_ids:
            row = self.conn.execute(
                "SELECT cursor_seq FROM event_subscribers WHERE id = ? AND active = 1", (sid,)
            ).fetchone()
            if row is None or int(row[0]) >= top:
                continue  # nothing new: no write lock taken
            stamp = iso(now)
            with self.transaction() as conn:
                row = conn.execute(
                    "SELECT * FROM event_subscribers WHERE id = ? AND active = 1", (sid,)
                ).fetchone()
                if row is None:
                    continue
                sub = subscriber_from_row(row)
                hi = min(top, sub.cursor_seq + limit)
                if hi <= sub.cursor_seq:
                    continue
                where, params = _globs("e.type", sub.patterns)
                tenant_sql = "1" if sub.tenant_id == ALL_TENANTS else "e.tenant_id = ?"
                tenant_args = [] if sub.tenant_id == ALL_TENANTS else [sub.tenant_id]
                cur = conn.execute(
                    "INSERT OR IGNORE INTO event_deliveries (subscriber_id, tenant_id, event_id,"
                    " event_seq, event_type, status, attempts, next_attempt_at, created_at, updated_at)"
                    " SELECT ?, e.tenant_id, e.id, e.seq, e.type, 'pending', 0, ?, ?, ?"
                    f" FROM integration_events e WHERE e.seq > ? AND e.seq <= ? AND {tenant_sql}"
                    f" AND ((e.target_subscriber IS NULL AND {where}) OR e.target_subscriber = ?)",
                    [sid, now, stamp, stamp, sub.cursor_seq, hi, *tenant_args, *params, sid],
                )
                created += max(cur.rowcount, 0)
                conn.execute("UPDATE event_subscribers SET cursor_seq = ? WHERE id = ?", (hi, sid))
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
        stamp = iso(now)
        due = now if due_by is None else min(now, due_by)
        with self.transaction() as conn:
            subs = [
                subscriber_from_row(r)
                for r in conn.execute(
                    f"SELECT * FROM event_subscribers WHERE active = 1 AND id IN"
                    f" ({','.join('?' for _ in subscriber_ids)})",
                    list(subscriber_ids),
                ).fetchall()
            ]
            picked: list[int] = []
            caps: dict[str, int] = {}
            for sub in subs:
                inflight = conn.execute(
                    "SELECT count(*) FROM event_deliveries WHERE subscriber_id = ? AND status = 'pending'"
                    " AND lease_owner IS NOT NULL AND next_attempt_at > ?",
                    (sub.id, now),
                ).fetchone()[0]
                room = max(0, sub.concurrency - int(inflight))
                if sub.ordered:
                    head = conn.execute(
                        "SELECT id, next_attempt_at FROM event_deliveries WHERE subscriber_id = ?"
                        " AND status = 'pending' ORDER BY event_seq LIMIT 1",
                        (sub.id,),
                    ).fetchone()
                    if head is not None and head[1] <= due and len(picked) < limit:
                        picked.append(int(head[0]))
                elif room:
                    caps[sub.id] = room
            if caps and len(picked) < limit:
                marks = ",".join("?" for _ in caps)
                rows = conn.execute(
                    "SELECT id, subscriber_id FROM event_deliveries WHERE status = 'pending'"
                    f" AND next_attempt_at <= ? AND subscriber_id IN ({marks})"
                    " ORDER BY next_attempt_at, id LIMIT ?",
                    [due, *caps, (limit - len(picked)) * 4],
                ).fetchall()
                for did, sid in rows:
                    if len(picked) >= limit:
                        break
                    if caps[sid] > 0:
                        caps[sid] -= 1
                        picked.append(int(did))
            if not picked:
                return []
            rows = conn.execute(
                f"UPDATE event_deliveries SET lease_owner = ?, next_attempt_at = ?, updated_at = ?"
                f" WHERE id IN ({','.join('?' for _ in picked)}) AND status = 'pending'"
                f" RETURNING {DELIVERY_COLS}",
                [owner, now + lease_s, stamp, *picked],
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
        stamp = now_iso()
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE event_deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?,"
                " lease_owner = NULL, last_error = ?, last_status = ?, updated_at = ?"
                " WHERE id = ? AND lease_owner = ?",
                [
                    (u.status, u.next_attempt_at, u.error, u.http_status, stamp, u.delivery_id, owner)
                    for u in updates
                ],
            )
            for u in updates:
                if u.disable_subscriber:
                    row = conn.execute(
                        "SELECT subscriber_id FROM event_deliveries WHERE id = ?", (u.delivery_id,)
                    ).fetchone()
                    if row is not None:
                        reason = u.error or "disabled"
                        conn.execute("UPDATE event_subscribers SET active = 0 WHERE id = ?", (row[0],))
                        conn.execute(
                            "UPDATE webhook_subscriptions SET active = 0, disabled_reason = ?,"
                            " updated_at = ? WHERE id = ?",
                            (reason, stamp, row[0]),
                        )
            if attempts:
                conn.executemany(
                    "INSERT INTO webhook_deliveries (id, subscription_id, tenant_id, event_id, event_type,"
                    " url, request_headers, request_body, response_status, response_body, duration_ms,"
                    " attempt, success, error, delivered_at, delivery_id)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
                            int(a.success),
                            a.error,
                            a.delivered_at,
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
                conn.executemany(
                    "UPDATE webhook_subscriptions SET total_deliveries = total_deliveries + ?,"
                    " total_failures = total_failures + ?, last_delivery_at = ? WHERE id = ?",
                    [(n, f, last, sid) for sid, (n, f, last) in totals.items()],
                )

    def open_counts(self, subscriber_ids: Sequence[str], now: float) -> tuple[int, int]:
        if not subscriber_ids:
            return 0, 0
        marks = ",".join("?" for _ in subscriber_ids)
        row = self.conn.execute(
            "SELECT coalesce(sum(next_attempt_at <= ?), 0), count(*) FROM event_deliveries"
            f" WHERE status = 'pending' AND subscriber_id IN ({marks})",
            [now, *subscriber_ids],
        ).fetchone()
        return int(row[0]), int(row[1])

    def list_deliveries(
        self,
        tenant_id: str,
        *,
        status: str | None = None,
        subscriber_id: str | None = None,
        event_id: str | None = None,
        limit: int = 50,
    ) -> list[EventDelivery]:
        sql = f"SELECT {DELIVERY_COLS} FROM event_deliveries WHERE tenant_id = ?"
        args: list[Any] = [tenant_id]
        for column, value in (("status", status), ("subscriber_id", subscriber_id), ("event_id", event_id)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        args.append(limit)
        return [
            delivery_from_row(r)
            for r in self.conn.execute(sql + " ORDER BY id DESC LIMIT ?", args).fetchall()
        ]

    def _dead_filter(
        self, tenant_id: str, ids: Sequence[int], subscriber_id: str | None
    ) -> tuple[str, list[Any]]:
        sql = "tenant_id = ? AND status = 'dead'"
        args: list[Any] = [tenant_id]
        if ids:
            sql += f" AND id IN ({','.join('?' for _ in ids)})"
            args += list(ids)
        if subscriber_id is not None:
            sql += " AND subscriber_id = ?"
            args.append(subscriber_id)
        return sql, args

    def retry_dead(
        self, tenant_id: str, now: float, *, ids: Sequence[int] = (), subscriber_id: str | None = None
    ) -> int:
        where, args = self._dead_filter(tenant_id, ids, subscriber_id)
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE event_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?,"
                f" lease_owner = NULL, updated_at = ? WHERE {where}",
                [now, iso(now), *args],
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
            where += " AND updated_at < ?"
            args.append(before)
        with self.transaction() as conn:
            return conn.execute(f"DELETE FROM event_deliveries WHERE {where}", args).rowcount

    def requeue(
        self, tenant_id: str, subscriber_ids: Sequence[str], patterns: Sequence[str], since: str, now: float
    ) -> int:
        stamp = iso(now)
        total = 0
        with self.transaction() as conn:
            for sid in subscriber_ids:
                row = conn.execute("SELECT * FROM event_subscribers WHERE id = ?", (sid,)).fetchone()
                if row is None:
                    continue
                sub = subscriber_from_row(row)
                if sub.tenant_id not in (tenant_id, ALL_TENANTS):
                    continue
                own, own_args = _globs("e.type", sub.patterns)
                asked, asked_args = _globs("e.type", patterns)
                cur = conn.execute(
                    "INSERT INTO event_deliveries (subscriber_id, tenant_id, event_id, event_seq, event_type,"
                    " status, attempts, next_attempt_at, created_at, updated_at)"
                    " SELECT ?, e.tenant_id, e.id, e.seq, e.type, 'pending', 0, ?, ?, ?"
                    " FROM integration_events e WHERE e.tenant_id = ? AND e.created_at >= ?"
                    f" AND e.seq <= ? AND {asked}"
                    f" AND ((e.target_subscriber IS NULL AND {own}) OR e.target_subscriber = ?)"
                    " ON CONFLICT (subscriber_id, event_id) DO UPDATE SET status = 'pending', attempts = 0,"
                    " next_attempt_at = excluded.next_attempt_at, lease_owner = NULL,"
                    " updated_at = excluded.updated_at",
                    [sid, now, stamp, stamp, tenant_id, since, sub.cursor_seq, *asked_args, *own_args, sid],
                )
                total += max(cur.rowcount, 0)
        return total

    # ------------------------------------------------------------------ outgoing webhooks
    def insert_subscription(self, subscription: WebhookSubscription, subscriber: Subscriber) -> None:
        s = subscription
        with self.store.fenced(s.sealed.key_id) as conn:
            self.upsert_subscriber(subscriber)
            conn.execute(
                "INSERT INTO webhook_subscriptions (id, tenant_id, url, events, secret_hash, active,"
                " custom_headers, retry_policy, created_by, created_at, sealed_secrets, sealed_key,"
                " sealed_key_id, timeout_ms, description, updated_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    s.id,
                    s.tenant_id,
                    s.url,
                    dumps(list(s.events)),
                    s.secret_hash,
                    int(s.active),
                    dumps(dict.fromkeys(s.header_names, "(sealed)")),
                    dumps(s.policy.to_dict()),
                    s.created_by,
                    s.created_at,
                    s.sealed.ciphertext,
                    s.sealed.wrapped_key,
                    s.sealed.key_id,
                    s.timeout_ms,
                    s.description,
                    s.created_at,
                ),
            )

    def get_subscription(self, tenant_id: str, ref: str) -> WebhookSubscription | None:
        row = self.conn.execute(
            "SELECT * FROM webhook_subscriptions WHERE tenant_id = ? AND id = ?", (tenant_id, ref)
        ).fetchone()
        if row is not None:
            return subscription_from_row(row)
        if len(ref) < 4:
            return None
        rows = self.conn.execute(
            "SELECT * FROM webhook_subscriptions WHERE tenant_id = ? AND id LIKE ? LIMIT 2",
            (tenant_id, ref.replace("%", "").replace("_", "") + "%"),
        ).fetchall()
        if len(rows) > 1:
            raise InvalidInputError(f"{ref!r} matches several webhooks; give more of the id")
        return subscription_from_row(rows[0]) if rows else None

    def subscriptions_by_id(self, ids: Sequence[str]) -> dict[str, WebhookSubscription]:
        if not ids:
            return {}
        rows = self.conn.execute(
            f"SELECT * FROM webhook_subscriptions WHERE id IN ({','.join('?' for _ in ids)})", list(ids)
        ).fetchall()
        return {r["id"]: subscription_from_row(r) for r in rows}

    def list_subscriptions(self, tenant_id: str | None) -> list[WebhookSubscription]:
        if tenant_id is None:
            rows = self.conn.execute("SELECT * FROM webhook_subscriptions ORDER BY created_at, id").fetchall()
        else:
            rows = self.conn.execute(
                "SELECT * FROM webhook_subscriptions WHERE tenant_id = ? ORDER BY created_at, id",
                (tenant_id,),
            ).fetchall()
        return [subscription_from_row(r) for r in rows]

    def delete_subscription(self, tenant_id: str, subscription_id: str) -> bool:
        with self.transaction() as conn:
            gone = conn.execute(
                "DELETE FROM webhook_subscriptions WHERE tenant_id = ? AND id = ?",
                (tenant_id, subscription_id),
            ).rowcount
            if gone:
                conn.execute(
                    "DELETE FROM event_subscribers WHERE id = ? AND kind = 'webhook'", (subscription_id,)
                )
        return gone > 0

    def update_subscription_secrets(
        self, tenant_id: str, subscription_id: str, sealed: Sealed, secret_hash: str
    ) -> bool:
        with self.store.fenced(sealed.key_id) as conn:
            cur = conn.execute(
                "UPDATE webhook_subscriptions SET sealed_secrets = ?, sealed_key = ?, sealed_key_id = ?,"
                " secret_hash = ?, updated_at = ? WHERE tenant_id = ? AND id = ?",
                (
                    sealed.ciphertext,
                    sealed.wrapped_key,
                    sealed.key_id,
                    secret_hash,
                    now_iso(),
                    tenant_id,
                    subscription_id,
                ),
            )
            return cur.rowcount > 0

    def set_subscription_active(
        self, tenant_id: str, subscription_id: str, active: bool, reason: str | None = None
    ) -> bool:
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE webhook_subscriptions SET active = ?, disabled_reason = ?, updated_at = ?"
                " WHERE tenant_id = ? AND id = ?",
                (int(active), None if active else reason, now_iso(), tenant_id, subscription_id),
            )
            conn.execute(
                "UPDATE event_subscribers SET active = ? WHERE id = ? AND kind = 'webhook'",
                (int(active), subscription_id),
            )
            return cur.rowcount > 0

    def list_attempts(
        self, tenant_id: str, subscription_id: str, *, limit: int = 50, event_id: str | None = None
    ) -> list[WebhookAttempt]:
        sql = "SELECT * FROM webhook_deliveries WHERE tenant_id = ? AND subscription_id = ?"
        args: list[Any] = [tenant_id, subscription_id]
        if event_id is not None:
            sql += " AND event_id = ?"
            args.append(event_id)
        args.append(limit)
        rows = self.conn.execute(sql + " ORDER BY delivered_at DESC, rowid DESC LIMIT ?", args).fetchall()
        return [attempt_from_row(r) for r in rows]

    # ------------------------------------------------------------------ inbound endpoints
    def put_endpoint(self, endpoint: WebhookEndpoint) -> None:
        e = endpoint
        with self.store.fenced(e.sealed.key_id) as conn:
            conn.execute(
                "INSERT INTO webhook_endpoints (instance_id, tenant_id, connector_id, token_hash,"
                " sealed_secret, sealed_key, sealed_key_id, secret_source, created_at, updated_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(instance_id) DO UPDATE SET"
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
                    e.created_at,
                    e.updated_at,
                ),
            )

    def get_endpoint(self, instance_id: str) -> WebhookEndpoint | None:
        row = self.conn.execute(
            "SELECT * FROM webhook_endpoints WHERE instance_id = ?", (instance_id,)
        ).fetchone()
        return endpoint_from_row(row) if row else None

    def delete_endpoint(self, tenant_id: str, instance_id: str) -> bool:
        with self.transaction() as conn:
            return (
                conn.execute(
                    "DELETE FROM webhook_endpoints WHERE tenant_id = ? AND instance_id = ?",
                    (tenant_id, instance_id),
                ).rowcount
                > 0
            )

    # ------------------------------------------------------------------ master key rotation
    def iter_sealed(self) -> list[CredentialRecord]:
        """Every webhook secret sealed by the vault, as records ``Vault.rotate`` can re-wrap.

        ``instance_id`` is the vault subject each was sealed under.
        """
        out = [
            CredentialRecord(
                instance_id=f"webhook-endpoint:{r['instance_id']}",
                tenant_id=r["tenant_id"],
                credential_type="none",
                encrypted_data=bytes(r["sealed_secret"]),
                wrapped_key=bytes(r["sealed_key"]),
                encryption_key_id=r["sealed_key_id"],
            )
            for r in self.conn.execute("SELECT * FROM webhook_endpoints ORDER BY instance_id").fetchall()
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
            for r in self.conn.execute("SELECT * FROM webhook_subscriptions ORDER BY id").fetchall()
        ]
        return out

    def replace_sealed(
        self, records: Sequence[CredentialRecord], *, expected: Mapping[tuple[str, str], bytes] | None = None
    ) -> list[CredentialRecord]:
        """Write re-wrapped keys back (joins an open transaction, e.g. the credentials').

        ``expected`` makes it a compare-and-swap, as ``Store.replace_credentials``: ``(tenant,
        subject) -> wrapped_key`` as the rotation read them. When any sealed secret differs from it
        (written or added since), nothing is written and those secrets, as they are now, are
        returned. ``[]`` means written.
        """
        with self.transaction() as conn:
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
                guard: str = ""
                params: tuple[bytes | None, ...] = ()
                if expected is not None:
                    guard, params = " AND sealed_key = ?", (expected.get((r.tenant_id, r.instance_id)),)
                conn.execute(
                    f"UPDATE {table} SET sealed_key = ?, sealed_key_id = ?"
                    f" WHERE tenant_id = ? AND {key} = ?{guard}",
                    (r.wrapped_key, r.encryption_key_id, r.tenant_id, ident, *params),
                )
        return []

    def touch_endpoints(self, received: dict[str, int], at: str) -> None:
        if not received:
            return
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE webhook_endpoints SET total_received = total_received + ?, last_received_at = ?"
                " WHERE instance_id = ?",
                [(n, at, iid) for iid, n in received.items()],
            )
