"""The event bus on a real SQLite file: outbox, patterns, leases, ordering, retries, DLQ, replay."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cuervo_fabric.domain.models import IntegrationEvent
from cuervo_fabric.domain.subscriptions import matches
from cuervo_fabric.events import EventBus, SubscribeOptions
from cuervo_fabric.services.events import EventService
from cuervo_fabric.store.sqlite import SqliteStore
from cuervo_fabric.store.sqlite_events import SqliteEventStore


def event(
    event_type: str, *, tenant: str = "default", delivery: str | None = None, **data: Any
) -> IntegrationEvent:
    eid = uuid.uuid4().hex
    return IntegrationEvent(
        id=eid,
        type=event_type,
        source="src-1",
        tenant_id=tenant,
        timestamp="2026-01-01T00:00:00.000000Z",
        data=data,
        correlation_id=eid,
        connector_id="test",
        original_webhook_id=delivery,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "fabric.db"


@pytest.fixture
def store(db: Path) -> Iterator[SqliteEventStore]:
    base = SqliteStore(db)
    yield SqliteEventStore(base)
    base.close()


@pytest.fixture
def bus(store: SqliteEventStore) -> EventBus:
    return EventBus(store, owner="worker-a")


def test_publish_commits_or_rolls_back_with_the_change_that_caused_it(store: SqliteEventStore, bus: EventBus):
    """Inside one transaction, an event and another write both land or neither does."""
    conn = store.conn
    conn.execute("CREATE TABLE orders (id TEXT)")

    def failing_change() -> None:
        with store.transaction():
            conn.execute("INSERT INTO orders VALUES ('o-1')")
            bus.publish(event("order.created", id="o-1"))
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 0
    assert store.max_seq() == 0
    with store.transaction():
        conn.execute("INSERT INTO orders VALUES ('o-2')")
        bus.publish(event("order.created", id="o-2"))
    assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 1
    assert [s.event.data for s in store.list_events("default")] == [{"id": "o-2"}]


def test_patterns_select_event_types():
    """'*' matches any characters, dots included; anything else is literal."""
    assert matches("github.*", "github.push")
    assert matches("github.*", "github.pull_request.opened")
    assert not matches("github.*", "gitlab.push")
    assert not matches("github.*", "github")
    assert matches("*", "anything.at.all")
    assert matches("jira.issue.created", "jira.issue.created")
    assert not matches("jira.issue.created", "jira.issue.created.v2")
    assert matches("*.created", "jira.issue.created")


def test_subscribers_get_matching_events_at_least_once_and_duplicates_are_dropped(bus: EventBus):
    """Each subscriber receives the events its pattern matches; a redelivered webhook id is logged once."""
    got: dict[str, list[str]] = {"gh": [], "all": [], "exact": []}
    bus.subscribe("github.*", lambda e: got["gh"].append(e.type), SubscribeOptions(name="gh"))
    bus.subscribe("*", lambda e: got["all"].append(e.type), SubscribeOptions(name="all"))
    bus.subscribe("jira.issue.created", lambda e: got["exact"].append(e.type), SubscribeOptions(name="exact"))
    first = bus.publish(event("github.push", delivery="d-1"))
    again = bus.publish(event("github.push", delivery="d-1"))
    bus.publish(event("github.pull_request.opened"))
    bus.publish(event("jira.issue.created"))
    assert again.duplicate
    assert again.event_id == first.event_id
    assert bus.drain() == 6
    assert got == {
        "gh": ["github.push", "github.pull_request.opened"],
        "all": ["github.push", "github.pull_request.opened", "jira.issue.created"],
        "exact": ["jira.issue.created"],
    }


def test_a_crashed_workers_lease_runs_out_and_another_worker_delivers(db: Path, store: SqliteEventStore):
    """A delivery leased by a worker that died is handed to another worker once the lease expires."""
    crashed = EventBus(store, owner="crashed", lease_s=0.3)
    crashed.subscribe("*", lambda e: None, SubscribeOptions(name="durable"))
    crashed.publish(event("a.b"))
    subscriber = store.list_subscribers(None)[0]
    store.materialize([subscriber.id], time.time())
    assert len(store.claim([subscriber.id], "crashed", time.time(), 0.3, 10)) == 1  # and it dies here
    other_conn = SqliteStore(db)
    try:
        seen: list[str] = []
        survivor = EventBus(SqliteEventStore(other_conn), owner="survivor")
        survivor.subscribe("*", lambda e: seen.append(e.id), SubscribeOptions(name="durable"))
        assert survivor.run_once() == 0  # still leased
        time.sleep(0.35)
        assert survivor.run_once() == 1
        assert len(seen) == 1
    finally:
        other_conn.close()


def test_ordered_subscribers_handle_events_in_log_order_and_a_failure_holds_the_rest(bus: EventBus):
    """An ordered subscriber gets events one at a time in order; a failing head blocks those behind it."""
    seen: list[int] = []
    fail = {"n": 1}

    def handle(e: IntegrationEvent) -> None:
        if e.data["i"] == 1 and fail["n"] > 0:
            fail["n"] -= 1
            raise RuntimeError("not yet")
        seen.append(e.data["i"])

    bus.subscribe("seq.*", handle, SubscribeOptions(name="ordered", ordered=True, backoff_ms=(0,)))
    for i in range(4):
        bus.publish(event("seq.item", i=i))
    assert bus.run_once() == 1
    assert bus.run_once() == 1  # i=1 fails: retried next
    assert seen == [0]
    bus.drain()
    assert seen == [0, 1, 2, 3]


def test_concurrency_runs_handlers_in_parallel_up_to_the_limit(bus: EventBus):
    """With concurrency N, at most N handlers run at once and all events are handled."""
    lock = threading.Lock()
    state = {"now": 0, "max": 0, "done": 0}

    def handle(e: IntegrationEvent) -> None:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.01)
        with lock:
            state["now"] -= 1
            state["done"] += 1

    bus.subscribe("*", handle, SubscribeOptions(name="parallel", concurrency=3))
    bus.publish_many([event("w.x", i=i) for i in range(12)])
    bus.drain()
    assert state["done"] == 12
    assert 1 <= state["max"] <= 3


def test_a_handler_that_keeps_failing_is_dead_lettered_then_retried_from_the_dlq(
    bus: EventBus, store: SqliteEventStore
):
    """After max_retries the delivery is dead; a DLQ retry gives it a fresh budget and it is handled."""
    healthy = {"ok": False}
    attempts: list[int] = []

    def handle(e: IntegrationEvent) -> None:
        attempts.append(e.delivery_attempt)
        if not healthy["ok"]:
            raise ValueError("boom")

    bus.subscribe("*", handle, SubscribeOptions(name="flaky", max_retries=2, backoff_ms=(0,)))
    bus.publish(event("x.y"))
    bus.drain()
    assert attempts == [1, 2, 3]
    svc = EventService(store)
    [dead] = svc.dlq("default")
    assert (dead.attempts, dead.last_error) == (3, "ValueError: boom")
    healthy["ok"] = True
    assert svc.dlq_retry("default", all_=True) == 1
    bus.drain()
    assert attempts == [1, 2, 3, 1]
    assert svc.dlq("default") == []


def test_tenant_filter_async_handlers_and_unsubscribe(bus: EventBus):
    """tenant_id restricts a subscriber; coroutine handlers work; unsubscribe stops this process handling."""
    got: list[str] = []

    async def handle(e: IntegrationEvent) -> None:
        await asyncio.sleep(0)
        got.append(e.tenant_id)

    stop = bus.subscribe("*", handle, SubscribeOptions(name="acme-only", tenant_id="acme"))
    bus.publish(event("a.b", tenant="acme"))
    bus.publish(event("a.b", tenant="other"))
    bus.drain()
    assert got == ["acme"]
    stop()
    bus.publish(event("a.c", tenant="acme"))
    assert bus.drain() == 0


def test_replay_feeds_history_since_a_time_in_order(bus: EventBus, store: SqliteEventStore):
    """replay(pattern, since, handler) calls the handler for each matching logged event, oldest first."""
    for i, when in enumerate(
        ["2026-01-01T00:00:00.000000Z", "2026-01-02T00:00:00.000000Z", "2026-01-03T00:00:00.000000Z"]
    ):
        bus.publish(replace(event("github.push", i=i), timestamp=when))
    bus.publish(event("gitlab.push"))
    seen: list[int] = []
    n = bus.replay("github.*", "2026-01-02T00:00:00Z", lambda e: seen.append(e.data["i"]))
    assert (n, seen) == (2, [1, 2])


def test_requeue_owes_events_again_to_existing_subscribers(bus: EventBus, store: SqliteEventStore):
    """`events replay` semantics: handled events since T are delivered again to the subscriber."""
    seen: list[str] = []
    bus.subscribe("*", lambda e: seen.append(e.type), SubscribeOptions(name="r"))
    bus.publish(event("a.one"))
    bus.publish(event("b.two"))
    bus.drain()
    out = EventService(store).replay("default", "a.*", "2020-01-01T00:00:00Z", subscriber="r")
    assert out["requeued"] == 1
    bus.drain()
    assert seen == ["a.one", "b.two", "a.one"]


def test_append_returns_each_events_log_position_and_dedupes_within_a_batch(store: SqliteEventStore):
    """One batch gets consecutive positions; repeats of an id or a delivery id point at the first."""
    a, b = event("x.a", delivery="d-1"), event("x.b")
    again = replace(event("x.a", delivery="d-1"), id=uuid.uuid4().hex)
    results = store.append_events([a, b, again, a])
    logged = {s.event.id: s.seq for s in store.list_events("default")}
    assert [(r.event_id, r.duplicate) for r in results] == [
        (a.id, False),
        (b.id, False),
        (a.id, True),
        (a.id, True),
    ]
    assert [r.seq for r in results] == [logged[a.id], logged[b.id], logged[a.id], logged[a.id]]
    assert logged[b.id] == logged[a.id] + 1
    later = store.append_events([event("x.c"), a])
    assert later[0].seq == logged[b.id] + 1
    assert (later[1].event_id, later[1].duplicate) == (a.id, True)
