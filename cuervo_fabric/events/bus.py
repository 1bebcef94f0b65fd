"""``EventBus``: the seed's IEventBus on the store's event log.

* ``publish`` appends to the log (the outbox); inside ``with store.transaction():`` it commits with
  the change that caused it, or not at all.
* ``subscribe(pattern, handler, options)`` registers a **durable** subscriber (by name) and the
  handler for this process. Matching events become deliveries; ``run_once``/``drain`` lease due
  deliveries and call handlers: at least once, so handlers deduplicate by ``event.id``. A failing
  handler is retried on the subscriber's schedule and, after ``max_retries``, dead-lettered.
* ``replay(pattern, since, handler)`` feeds a handler the log's history (catch-up after an outage).

Handlers may be plain functions or coroutine functions.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from cuervo_fabric.domain.models import IntegrationEvent
from cuervo_fabric.domain.subscriptions import (
    ALL_TENANTS,
    HANDLER_BACKOFF_MS,
    AttemptOutcome,
    EventDelivery,
    RetryPolicy,
    Subscriber,
    check_pattern,
    decide,
)
from cuervo_fabric.domain.timeutil import iso, parse_iso
from cuervo_fabric.errors import InvalidInputError
from cuervo_fabric.ports import AppendResult, DeliveryUpdate, EventStore

__all__ = ["EventBus", "Handler", "SubscribeOptions", "worker_id"]

#: An event handler: ``def handle(event) -> None`` or ``async def handle(event) -> None``.
Handler = Callable[[IntegrationEvent], Awaitable[None] | None]


def worker_id() -> str:
    """This process's lease owner name: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class SubscribeOptions:
    """The seed's SubscribeOptions, plus the durable name and the retry delays.

    Attributes:
        ordered: one event at a time, in log order (a failing event holds the ones behind it until
            it succeeds or is dead-lettered).
        concurrency: events handled at once (ignored when ``ordered``).
        max_retries: retries after the first failure before the event is dead-lettered.
        tenant_id: only this tenant's events (default: every tenant's).
        name: the durable subscriber's name; a restarted process resumes where it left off.
        backoff_ms: waits before each retry (the last repeats), spread by ±20 % jitter.
        from_start: a new subscriber starts at the beginning of the log instead of its end.
    """

    ordered: bool = False
    concurrency: int = 1
    max_retries: int = 3
    tenant_id: str | None = None
    name: str | None = None
    backoff_ms: tuple[int, ...] = HANDLER_BACKOFF_MS
    from_start: bool = False


def _default_name(pattern: str, handler: Handler) -> str:
    qual = getattr(handler, "__qualname__", type(handler).__name__)
    return f"{getattr(handler, '__module__', 'handler')}.{qual}:{pattern}"


class EventBus:
    """Publish, subscribe, replay, and run the handlers of this process."""

    def __init__(
        self,
        store: EventStore,
        *,
        tenant_id: str = "default",
        lease_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.tenant_id = tenant_id
        self.lease_s = lease_s
        self.clock = clock
        self.rng = rng
        self.owner = owner or worker_id()
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ publish
    def publish(self, event: IntegrationEvent) -> AppendResult:
        """Append ``event`` to the log (joins an open ``store.transaction()``)."""
        return self.store.append_events([event])[0]

    def publish_many(self, events: list[IntegrationEvent]) -> list[AppendResult]:
        return self.store.append_events(events)

    # ------------------------------------------------------------------ subscribe
    def subscribe(
        self, pattern: str, handler: Handler, options: SubscribeOptions | None = None
    ) -> Callable[[], None]:
        """Register ``handler`` for events matching ``pattern``; returns ``unsubscribe``.

        ``unsubscribe`` stops this process from handling the subscriber's events; the durable
        subscriber keeps collecting them (``remove_subscriber`` deletes it).
        """
        opts = options or SubscribeOptions()
        check_pattern(pattern)
        if opts.concurrency < 1:
            raise InvalidInputError("concurrency must be at least 1", details={"field": "concurrency"})
        sub = self.store.upsert_subscriber(
            Subscriber(
                id=uuid.uuid4().hex,
                name=opts.name or _default_name(pattern, handler),
                kind="handler",
                patterns=(pattern,),
                tenant_id=opts.tenant_id or ALL_TENANTS,
                ordered=opts.ordered,
                concurrency=1 if opts.ordered else opts.concurrency,
                policy=RetryPolicy(max_retries=opts.max_retries, backoff_ms=tuple(opts.backoff_ms)),
            ),
            from_start=opts.from_start,
        )
        with self._lock:
            self._handlers[sub.id] = handler

        def unsubscribe() -> None:
            with self._lock:
                self._handlers.pop(sub.id, None)

        return unsubscribe

    def remove_subscriber(self, name: str, *, tenant_id: str | None = None) -> bool:
        """Delete a durable subscriber and what it is still owed."""
        scope = tenant_id or ALL_TENANTS
        for sub in self.store.list_subscribers(None, kind="handler"):
            if sub.name == name and sub.tenant_id == scope:
                with self._lock:
                    self._handlers.pop(sub.id, None)
                return self.store.delete_subscriber(sub.id)
        return False

    # ------------------------------------------------------------------ replay
    def replay(
        self, pattern: str, since: str, handler: Handler, *, tenant_id: str | None = None, batch: int = 500
    ) -> int:
        """Call ``handler`` for every logged event matching ``pattern`` since ``since`` (ISO-8601),
        oldest first; returns how many. Exceptions from the handler propagate."""
        check_pattern(pattern)
        try:
            since = iso(parse_iso(since))  # the log's own format, so text order is time order
        except ValueError as exc:
            raise InvalidInputError(f"invalid time {since!r}", details={"field": "since"}) from exc
        count, after = 0, 0
        while True:
            page = self.store.list_events(
                tenant_id or self.tenant_id,
                patterns=(pattern,),
                since=since,
                after_seq=after,
                limit=batch,
                newest_first=False,
            )
            for stored in page:
                _call(handler, stored.event)
                count += 1
                after = stored.seq
            if len(page) < batch:
                return count

    # ------------------------------------------------------------------ run
    def run_once(self, *, limit: int = 100) -> int:
        """Lease the due deliveries of this process's subscribers, run their handlers, record the
        outcomes; returns how many deliveries were attempted."""
        with self._lock:
            handlers = dict(self._handlers)
        if not handlers:
            return 0
        now = self.clock()
        ids = list(handlers)
        self.store.materialize(ids, now)
        claimed = self.store.claim(ids, self.owner, now, self.lease_s, limit)
        if not claimed:
            return 0
        events = self.store.events_by_id([d.event_id for d in claimed])
        subs = {sid: self.store.get_subscriber(sid) for sid in {d.subscriber_id for d in claimed}}
        workers = max(1, min(len(claimed), sum(s.concurrency for s in subs.values() if s)))

        def attempt(d: EventDelivery) -> DeliveryUpdate:
            sub = subs[d.subscriber_id]
            assert sub is not None
            stored = events.get(d.event_id)
            n = d.attempts + 1
            if stored is None:  # purged from the log meanwhile: nothing left to deliver
                return DeliveryUpdate(d.id, "dead", self.clock(), error="the event is no longer in the log")
            try:
                _call(handlers[d.subscriber_id], replace(stored.event, delivery_attempt=n))
                outcome = AttemptOutcome(True)
            except Exception as exc:  # noqa: BLE001 - a handler's failure is data for the retry policy
                outcome = AttemptOutcome(False, error=f"{type(exc).__name__}: {exc}"[:500])
            decision = decide(sub.policy, n, outcome, self.clock(), self.rng())
            return DeliveryUpdate(d.id, decision.status, decision.next_attempt_at, error=outcome.error)

        if workers == 1:
            updates = [attempt(d) for d in claimed]
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="cuervo-bus") as pool:
                updates = list(pool.map(attempt, claimed))
        self.store.finish(self.owner, updates)
        return len(claimed)

    def drain(self, *, max_seconds: float = 30.0, limit: int = 100) -> int:
        """Run until nothing of this process's subscribers is due (or ``max_seconds``)."""
        deadline = time.monotonic() + max_seconds
        total = 0
        while time.monotonic() < deadline:
            n = self.run_once(limit=limit)
            total += n
            if n == 0:
                return total
        return total

    def run(self, stop: threading.Event, *, poll_s: float = 0.5, limit: int = 100) -> None:
        """Run handlers until ``stop`` is set (a long-lived worker)."""
        while not stop.is_set():
            if self.run_once(limit=limit) == 0:
                stop.wait(poll_s)


def _call(handler: Handler, event: IntegrationEvent) -> None:
    result: Any = handler(event)
    if inspect.isawaitable(result):
        asyncio.run(_await(result))


async def _await(awaitable: Awaitable[Any]) -> None:
    await awaitable
