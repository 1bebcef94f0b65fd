"""Event log use cases: publish, list, show, tail, replay, and the dead-letter queue."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from cuervo_fabric.domain.models import IntegrationEvent
from cuervo_fabric.domain.subscriptions import (
    EventDelivery,
    StoredEvent,
    Subscriber,
    check_event_type,
    check_pattern,
    parse_duration,
)
from cuervo_fabric.domain.timeutil import iso, parse_iso
from cuervo_fabric.errors import InvalidInputError, NotFoundError
from cuervo_fabric.ports import AppendResult, EventStore

__all__ = ["EventService", "since_to_iso"]

MAX_LIMIT = 10_000


def since_to_iso(text: str, now: float) -> str:
    """``--since``: an ISO-8601 time (``2026-01-31T09:00:00Z``) or an age (``10m``, ``2h``, ``7d``)."""
    value = (text or "").strip()
    if value and value[-1] in "smhd" and value[0].isdigit() and "T" not in value and "-" not in value:
        return iso(now - parse_duration(value))
    try:
        return iso(parse_iso(value))
    except ValueError:
        raise InvalidInputError(
            f"invalid time {text!r}: use ISO-8601 (2026-01-31T09:00:00Z) or an age such as 10m, 2h, 7d",
            details={"field": "since"},
        ) from None


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"--limit must be between 1 and {MAX_LIMIT}", details={"field": "limit"})
    return limit


class EventService:
    """What the ``events`` commands do, one tenant at a time."""

    def __init__(self, store: EventStore, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def publish(
        self,
        tenant: str,
        event_type: str,
        data: dict[str, Any],
        *,
        source: str = "cli",
        connector_id: str = "cuervo-fabric",
        correlation_id: str | None = None,
    ) -> tuple[IntegrationEvent, AppendResult]:
        """Append one event (it reaches every matching subscriber)."""
        check_event_type(event_type)
        eid = uuid.uuid4().hex
        event = IntegrationEvent(
            id=eid,
            type=event_type,
            source=source,
            tenant_id=tenant,
            timestamp=iso(self.clock()),
            data=data,
            correlation_id=correlation_id or eid,
            connector_id=connector_id,
        )
        return event, self.store.append_events([event])[0]

    def list_events(
        self,
        tenant: str,
        *,
        patterns: Sequence[str] = (),
        since: str | None = None,
        source: str | None = None,
        limit: int = 50,
    ) -> list[StoredEvent]:
        """Newest first."""
        for p in patterns:
            check_pattern(p)
        when = since_to_iso(since, self.clock()) if since else None
        return self.store.list_events(
            tenant, patterns=tuple(patterns), since=when, source=source, limit=_limit(limit)
        )

    def get(self, tenant: str, ref: str) -> StoredEvent:
        found = self.store.get_event(tenant, ref)
        if found is None:
            raise NotFoundError(f"no event {ref!r} in tenant {tenant!r}", details={"event": ref})
        return found

    def deliveries_of(self, tenant: str, event_id: str) -> list[EventDelivery]:
        return self.store.list_deliveries(tenant, event_id=event_id, limit=1000)

    def head(self) -> int:
        """The log's newest position (``events tail`` starts after it)."""
        return self.store.max_seq()

    def after(
        self, tenant: str, after_seq: int, *, patterns: Sequence[str] = (), limit: int = 500
    ) -> list[StoredEvent]:
        """Events after a log position, oldest first (``events tail``)."""
        for p in patterns:
            check_pattern(p)
        return self.store.list_events(
            tenant, patterns=tuple(patterns), after_seq=after_seq, limit=limit, newest_first=False
        )

    # ------------------------------------------------------------------ subscribers and replay
    def subscribers(self, tenant: str) -> list[Subscriber]:
        return self.store.list_subscribers(tenant)

    def find_subscriber(self, tenant: str, ref: str) -> Subscriber:
        """By id, unique id prefix, or name."""
        subs = self.subscribers(tenant)
        exact = [s for s in subs if ref in (s.id, s.name)]
        found = exact or [s for s in subs if len(ref) >= 4 and s.id.startswith(ref)]
        if len(found) == 1:
            return found[0]
        if not found:
            raise NotFoundError(
                f"no subscriber {ref!r} in tenant {tenant!r} (see: cuervo-fabric events subscribers)",
                details={"subscriber": ref},
            )
        raise InvalidInputError(
            f"{ref!r} matches {len(found)} subscribers; give the id", details={"field": "subscriber"}
        )

    def replay(
        self, tenant: str, pattern: str, since: str, *, subscriber: str | None = None
    ) -> dict[str, Any]:
        """Owe every matching event since ``since`` again to the subscribers (or one of them)."""
        check_pattern(pattern)
        when = since_to_iso(since, self.clock())
        subs = [self.find_subscriber(tenant, subscriber)] if subscriber else self.subscribers(tenant)
        count = self.store.requeue(tenant, [s.id for s in subs], (pattern,), when, self.clock())
        return {"requeued": count, "subscribers": [s.id for s in subs], "since": when, "pattern": pattern}

    # ------------------------------------------------------------------ dead-letter queue
    def dlq(self, tenant: str, *, subscriber: str | None = None, limit: int = 50) -> list[EventDelivery]:
        sid = self.find_subscriber(tenant, subscriber).id if subscriber else None
        return self.store.list_deliveries(tenant, status="dead", subscriber_id=sid, limit=_limit(limit))

    def _selection(self, ids: Sequence[str], all_: bool, subscriber: str | None) -> tuple[list[int], bool]:
        if not ids and not all_ and subscriber is None:
            raise InvalidInputError(
                "name the dead-lettered deliveries (IDs), or pass --all or --subscriber",
                details={"field": "ids"},
            )
        numbers: list[int] = []
        for text in ids:
            if not str(text).isdigit():
                raise InvalidInputError(f"{text!r} is not a delivery id (a number)", details={"field": "ids"})
            numbers.append(int(text))
        return numbers, all_

    def dlq_retry(
        self, tenant: str, ids: Sequence[str] = (), *, all_: bool = False, subscriber: str | None = None
    ) -> int:
        """Put dead-lettered deliveries back in the queue, with a fresh retry budget."""
        numbers, _ = self._selection(ids, all_, subscriber)
        sid = self.find_subscriber(tenant, subscriber).id if subscriber else None
        return self.store.retry_dead(tenant, self.clock(), ids=numbers, subscriber_id=sid)

    def dlq_purge(
        self,
        tenant: str,
        ids: Sequence[str] = (),
        *,
        all_: bool = False,
        subscriber: str | None = None,
        before: str | None = None,
    ) -> int:
        """Delete dead-lettered deliveries (the events stay in the log)."""
        numbers, _ = self._selection(ids, all_ or before is not None, subscriber)
        sid = self.find_subscriber(tenant, subscriber).id if subscriber else None
        when = since_to_iso(before, self.clock()) if before else None
        return self.store.purge_dead(tenant, ids=numbers, subscriber_id=sid, before=when)
