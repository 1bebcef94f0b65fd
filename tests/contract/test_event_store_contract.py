"""The ``EventStore`` and ``WebhookStore`` ports' contract, run against SQLite and PostgreSQL.

Each test takes ``events`` (an event store on a fresh store of the backend); tests about two
workers open a second connection to the same database with ``backend.open()``.
"""

from __future__ import annotations

import base64
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from cuervo_fabric.domain.models import IntegrationEvent
from cuervo_fabric.domain.subscriptions import (
    ALL_TENANTS,
    RetryPolicy,
    Sealed,
    Subscriber,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookSubscription,
)
from cuervo_fabric.domain.timeutil import iso
from cuervo_fabric.ports import CredentialRecord, DeliveryUpdate, EventWebhookStore, Store
from cuervo_fabric.sdk import IncomingWebhook, StandardWebhooks
from cuervo_fabric.store.postgres import PostgresStore
from cuervo_fabric.store.postgres_events import PostgresEventStore
from cuervo_fabric.store.sqlite import SqliteStore
from cuervo_fabric.store.sqlite_events import SqliteEventStore
from cuervo_fabric.testing import LoopbackServer, Reply
from tests.contract.backends import Backend, drop_schema, require_postgres, schema_url
from tests.contract.factories import make_instance
from tests.helpers import cli
from tests.webhooks._support import github_endpoint, github_headers, serving

NOW = 1_800_000_000.0
LEASE = 30.0


def wrap(store: Store) -> EventWebhookStore:
    if isinstance(store, PostgresStore):
        return PostgresEventStore(store)
    assert isinstance(store, SqliteStore)
    return SqliteEventStore(store)


@pytest.fixture
def events(store: Store) -> EventWebhookStore:
    return wrap(store)


def event(
    tenant: str = "acme", type_: str = "github.push", *, delivery: str | None = None, **fields: Any
) -> IntegrationEvent:
    values: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "type": type_,
        "source": "inst-1",
        "tenant_id": tenant,
        "timestamp": iso(NOW),
        "data": {"n": 1, "nested": {"a": [1, 2.5, None], "ñ": "✓"}},
        "correlation_id": "corr",
        "connector_id": "github",
        "connector_version": "1.0.0",
        "original_webhook_id": delivery,
    }
    values.update(fields)
    return IntegrationEvent(**values)


def subscriber(tenant: str = "acme", patterns: tuple[str, ...] = ("github.*",), **fields: Any) -> Subscriber:
    values: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "name": f"sub-{uuid.uuid4().hex[:6]}",
        "kind": "handler",
        "patterns": patterns,
        "tenant_id": tenant,
        "policy": RetryPolicy(max_retries=2, backoff_ms=(1000,), jitter=0.0),
    }
    values.update(fields)
    return Subscriber(**values)


def subscription(tenant: str = "acme", **fields: Any) -> tuple[WebhookSubscription, Subscriber]:
    sid = uuid.uuid4().hex
    values: dict[str, Any] = {
        "id": sid,
        "tenant_id": tenant,
        "url": "https://example.com/hook",
        "events": ("github.*",),
        "active": True,
        "header_names": ("X-Team",),
        "policy": RetryPolicy(max_retries=3),
        "timeout_ms": 5000,
        "created_by": "alice",
        "created_at": iso(NOW),
        "sealed": Sealed(b"\x00cipher", b"wrapped", "k1"),
        "secret_hash": "hash",
        "description": "ci",
    }
    values.update(fields)
    sub = WebhookSubscription(**values)
    return sub, subscriber(tenant, sub.events, id=sid, name=f"webhook:{sid}", kind="webhook")


def deliver_once(events: EventWebhookStore, sub: Subscriber) -> list[int]:
    events.materialize([sub.id], NOW)
    return [d.id for d in events.claim([sub.id], "w", NOW, LEASE, 100)]


# ---------------------------------------------------------------------- the log
def test_append_round_trips_and_orders_by_seq(events: EventWebhookStore) -> None:
    """Appended events come back equal, in seq order, by seq, id and id prefix."""
    first, second = event(), event(type_="jira.issue.created")
    a, b = events.append_events([first, second])
    assert (a.duplicate, b.duplicate) == (False, False)
    assert 0 < a.seq < b.seq == events.max_seq()
    listed = events.list_events("acme", newest_first=False)
    assert [(s.seq, s.event) for s in listed] == [(a.seq, first), (b.seq, second)]
    assert events.list_events("acme", patterns=("jira.*",))[0].event == second
    assert events.list_events("acme", after_seq=a.seq, newest_first=False)[0].event == second
    for ref in (str(a.seq), first.id, first.id[:10]):
        found = events.get_event("acme", ref)
        assert found is not None
        assert found.event == first
    assert events.events_by_id([second.id])[second.id].seq == b.seq


def test_a_provider_delivery_id_is_logged_once_per_tenant_and_source(events: EventWebhookStore) -> None:
    """The same delivery id in one batch or a later one is a duplicate of the original."""
    original = event(delivery="d-1")
    results = events.append_events([original, event(delivery="d-1")])
    again = events.append_events([event(delivery="d-1")])[0]
    assert results[1].duplicate
    assert again.duplicate
    assert results[1].seq == again.seq == results[0].seq
    assert again.event_id == original.id
    other_tenant = events.append_events([event("globex", delivery="d-1")])[0]
    other_source = events.append_events([event(delivery="d-1", source="inst-2")])[0]
    assert not other_tenant.duplicate
    assert not other_source.duplicate
    assert len(events.list_events("acme")) == 2


def test_an_event_and_its_change_commit_or_roll_back_together(
    store: Store, events: EventWebhookStore
) -> None:
    """The outbox: a store change and an append inside ``transaction()`` share its fate."""
    inst = make_instance()
    store.insert_instance(inst)

    def change(fail: bool) -> None:
        with events.transaction():
            store.update_instance("acme", inst.id, {"name": "renamed"})
            events.append_events([event()])
            if fail:
                raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        change(fail=True)
    assert events.list_events("acme") == []
    assert store.get_instance("acme", inst.id) == inst
    change(fail=False)
    assert len(events.list_events("acme")) == 1
    assert store.get_instance("acme", inst.id).name == "renamed"  # type: ignore[union-attr]
    with events.transaction():
        events.list_deliveries("acme")  # a tenant-scoped call, then cross-tenant work
        events.append_events([event("globex")])
        assert events.get_endpoint("nobody") is None
    assert len(events.list_events("globex")) == 1


def test_events_of_one_tenant_are_invisible_to_another(events: EventWebhookStore) -> None:
    """Listing, lookup and deliveries are per tenant."""
    mine = event("acme")
    events.append_events([mine])
    assert events.list_events("globex") == []
    assert events.get_event("globex", mine.id) is None
    sub = events.upsert_subscriber(subscriber("acme"), from_start=True)
    deliver_once(events, sub)
    assert events.list_deliveries("globex") == []
    assert len(events.list_deliveries("acme")) == 1


def test_row_level_security_hides_other_tenants_rows(pg_schema: str) -> None:
    """On PostgreSQL the policy itself filters: a bare SELECT as the tenant sees only its rows."""
    store = PostgresStore(schema_url(pg_schema))
    try:
        events = wrap(store)
        events.append_events([event("acme"), event("globex")])
        events.upsert_subscriber(subscriber("globex"))
        with store.tenant("acme") as cur:
            rows = cur.execute("SELECT tenant_id FROM integration_events").fetchall()
            subs = cur.execute("SELECT count(*) AS n FROM event_subscribers").fetchone()
        assert [r["tenant_id"] for r in rows] == ["acme"]
        assert subs is not None
        assert subs["n"] == 0
        with store.owner() as cur:
            row = cur.execute(
                "SELECT current_user AS who, count(*) AS n FROM integration_events GROUP BY 1"
            ).fetchone()
        assert row is not None
        assert row["who"] != "cuervo_app"
        assert row["n"] == 2
    finally:
        store.close()


# ---------------------------------------------------------------------- subscribers and leases
def test_subscriber_receives_matching_events_once_from_its_cursor(events: EventWebhookStore) -> None:
    """A new subscriber starts at the log's end; matching events become one delivery each."""
    events.append_events([event()])
    sub = events.upsert_subscriber(subscriber())
    assert sub.cursor_seq == events.max_seq()
    wanted = event(type_="github.pull_request.opened")
    events.append_events([wanted, event(type_="gitlab.push"), event("globex")])
    assert events.materialize([sub.id], NOW) == 1
    assert events.materialize([sub.id], NOW) == 0
    claimed = events.claim([sub.id], "w1", NOW, LEASE, 10)
    assert [d.event_id for d in claimed] == [wanted.id]
    assert claimed[0].lease_owner == "w1"
    assert claimed[0].next_attempt_at == NOW + LEASE
    same = events.upsert_subscriber(subscriber(name=sub.name, id="other", patterns=("*",)))
    assert (same.id, same.cursor_seq, same.patterns) == (sub.id, events.max_seq(), ("*",))


def test_a_crashed_workers_lease_is_taken_again_after_it_expires(backend: Backend, store: Store) -> None:
    """Worker 1 leases and dies; worker 2 (another connection) gets it only once the lease ran out."""
    one, two = wrap(store), wrap(backend.open())
    sub = one.upsert_subscriber(subscriber(), from_start=True)
    one.append_events([event()])
    one.materialize([sub.id], NOW)
    (leased,) = one.claim([sub.id], "w1", NOW, LEASE, 10)
    assert two.claim([sub.id], "w2", NOW + 1, LEASE, 10) == []
    (retaken,) = two.claim([sub.id], "w2", NOW + LEASE + 1, LEASE, 10)
    assert (retaken.id, retaken.lease_owner) == (leased.id, "w2")
    one.finish("w1", [DeliveryUpdate(leased.id, "done", NOW)])  # too late: ignored
    assert one.list_deliveries("acme")[0].status == "pending"
    two.finish("w2", [DeliveryUpdate(leased.id, "done", NOW)])
    assert one.list_deliveries("acme")[0].status == "done"


def test_two_workers_racing_never_get_the_same_delivery(backend: Backend, store: Store) -> None:
    """Two connections claiming at once split the due deliveries; the concurrency cap holds."""
    first = wrap(store)
    sub = first.upsert_subscriber(subscriber(concurrency=30), from_start=True)
    first.append_events([event() for _ in range(40)])
    first.materialize([sub.id], NOW)
    workers = [first, wrap(backend.open())]
    got: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def work(i: int) -> None:
        start.wait()
        for _ in range(5):
            got[i] += [d.id for d in workers[i].claim([sub.id], f"w{i}", NOW, LEASE, 4)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    taken = got[0] + got[1]
    assert len(taken) == len(set(taken)) == 30


def test_ordered_subscriber_gets_only_its_oldest_open_delivery(events: EventWebhookStore) -> None:
    """An ordered subscriber is served one delivery at a time, in log order."""
    sub = events.upsert_subscriber(subscriber(ordered=True, concurrency=5), from_start=True)
    batch = [event() for _ in range(3)]
    events.append_events(batch)
    events.materialize([sub.id], NOW)
    (head,) = events.claim([sub.id], "w", NOW, LEASE, 10)
    assert head.event_id == batch[0].id
    assert events.claim([sub.id], "w", NOW, LEASE, 10) == []
    events.finish("w", [DeliveryUpdate(head.id, "done", NOW)])
    assert [d.event_id for d in events.claim([sub.id], "w", NOW, LEASE, 10)] == [batch[1].id]


def test_retries_are_scheduled_then_dead_lettered_retried_and_purged(events: EventWebhookStore) -> None:
    """A failed attempt waits for next_attempt_at; dead ones can be retried and purged."""
    sub = events.upsert_subscriber(subscriber(), from_start=True)
    events.append_events([event()])
    (did,) = deliver_once(events, sub)
    events.finish("w", [DeliveryUpdate(did, "pending", NOW + 60, error="boom", http_status=503)])
    assert events.claim([sub.id], "w", NOW + 1, LEASE, 10) == []
    assert events.open_counts([sub.id], NOW + 1) == (0, 1)
    assert events.open_counts([sub.id], NOW + 61) == (1, 1)
    (again,) = events.claim([sub.id], "w", NOW + 61, LEASE, 10)
    assert (again.attempts, again.last_error, again.last_status) == (1, "boom", 503)
    events.finish("w", [DeliveryUpdate(did, "dead", NOW + 61, error="gave up")])
    (dead,) = events.list_deliveries("acme", status="dead")
    assert (dead.attempts, dead.last_error) == (2, "gave up")
    assert events.retry_dead("globex", NOW + 70) == 0
    assert events.retry_dead("acme", NOW + 70, ids=[did]) == 1
    (back,) = events.claim([sub.id], "w", NOW + 70, LEASE, 10)
    assert back.attempts == 0
    events.finish("w", [DeliveryUpdate(did, "dead", NOW + 70)])
    assert events.purge_dead("acme", before=iso(0)) == 0
    assert events.purge_dead("acme", subscriber_id="nobody") == 0
    assert events.purge_dead("acme") == 1
    assert events.list_deliveries("acme") == []


def test_replay_owes_matching_events_since_a_time_again(events: EventWebhookStore) -> None:
    """``requeue`` makes delivered events pending again, only those since T and matching."""
    sub = events.upsert_subscriber(subscriber(patterns=("*",)), from_start=True)
    old = event(timestamp=iso(NOW - 3600))
    new = event(timestamp=iso(NOW), type_="jira.issue.created")
    events.append_events([old, new, event("globex")])
    for did in deliver_once(events, sub):
        events.finish("w", [DeliveryUpdate(did, "done", NOW)])
    assert events.requeue("acme", [sub.id], ("*",), iso(NOW - 60), NOW) == 1
    (pending,) = events.list_deliveries("acme", status="pending")
    assert pending.event_id == new.id
    assert events.requeue("acme", [sub.id], ("github.*",), iso(NOW - 7200), NOW) == 1
    assert {d.event_id for d in events.list_deliveries("acme", status="pending")} == {old.id, new.id}


def test_an_all_tenant_subscriber_receives_every_tenants_events(events: EventWebhookStore) -> None:
    """tenant '*' sees every tenant; tenants list it among their subscribers."""
    sub = events.upsert_subscriber(subscriber(ALL_TENANTS, concurrency=5), from_start=True)
    events.append_events([event("acme"), event("globex")])
    assert events.claim([sub.id], "w", NOW, LEASE, 10) == []  # not materialized yet
    assert len(deliver_once(events, sub)) == 2
    assert [s.id for s in events.list_subscribers("globex")] == [sub.id]
    assert events.delete_subscriber(sub.id) is True
    assert events.get_subscriber(sub.id) is None


# ---------------------------------------------------------------------- outgoing webhooks
def test_webhook_subscriptions_crud_and_attempt_log(events: EventWebhookStore) -> None:
    """Insert, read by id and prefix, rotate, disable, log attempts, delete (with its subscriber)."""
    sub, subscr = subscription()
    events.insert_subscription(sub, subscr)
    assert events.get_subscription("acme", sub.id) == sub
    assert events.get_subscription("acme", sub.id[:8]) == sub
    assert events.get_subscription("globex", sub.id) is None
    assert events.list_subscriptions("acme") == [sub]
    assert events.list_subscriptions(None) == [sub]
    assert events.subscriptions_by_id([sub.id]) == {sub.id: sub}
    assert events.get_subscriber(sub.id) is not None
    assert events.update_subscription_secrets("acme", sub.id, Sealed(b"new", b"key", "k2"), "h2")
    assert events.get_subscription("acme", sub.id).sealed.key_id == "k2"  # type: ignore[union-attr]
    assert not events.update_subscription_secrets("globex", sub.id, Sealed(b"x", b"y", "k3"), "h3")
    assert events.set_subscription_active("acme", sub.id, False, "manual")
    off = events.get_subscription("acme", sub.id)
    assert off is not None
    assert (off.active, off.disabled_reason) == (False, "manual")
    events.set_subscription_active("acme", sub.id, True)
    ev = event()
    events.append_events([ev])
    events.materialize([sub.id], NOW)
    (d,) = events.claim([sub.id], "w", NOW, LEASE, 10)
    attempts = [
        WebhookAttempt(
            id=uuid.uuid4().hex,
            subscription_id=sub.id,
            tenant_id="acme",
            event_id=ev.id,
            event_type=ev.type,
            url=sub.url,
            attempt=n,
            success=n == 2,
            delivered_at=iso(NOW + n),
            duration_ms=12,
            response_status=200 if n == 2 else 500,
            response_body="ok",
            error=None if n == 2 else "HTTP 500",
            request_headers={"webhook-id": ev.id},
            request_body="{}",
            delivery_id=d.id,
        )
        for n in (1, 2)
    ]
    events.finish("w", [DeliveryUpdate(d.id, "done", NOW)], attempts)
    assert events.list_attempts("acme", sub.id) == attempts[::-1]
    assert events.list_attempts("acme", sub.id, event_id="nope") == []
    assert events.list_attempts("globex", sub.id) == []
    totals = events.get_subscription("acme", sub.id)
    assert totals is not None
    assert (totals.total_deliveries, totals.total_failures, totals.last_delivery_at) == (2, 1, iso(NOW + 2))
    assert events.delete_subscription("globex", sub.id) is False
    assert events.delete_subscription("acme", sub.id) is True
    assert events.get_subscriber(sub.id) is None


def test_a_410_disables_the_subscription_and_its_subscriber(events: EventWebhookStore) -> None:
    """``disable_subscriber`` in an update turns both off, with the reason."""
    sub, subscr = subscription()
    events.insert_subscription(sub, subscr)
    events.append_events([event()])
    (did,) = deliver_once(events, events.get_subscriber(sub.id))  # type: ignore[arg-type]
    events.finish("w", [DeliveryUpdate(did, "dead", NOW, error="HTTP 410", disable_subscriber=True)])
    off = events.get_subscription("acme", sub.id)
    assert off is not None
    assert (off.active, off.disabled_reason) == (False, "HTTP 410")
    assert events.get_subscriber(sub.id).active is False  # type: ignore[union-attr]


# ---------------------------------------------------------------------- inbound endpoints, key rotation
def endpoint_for(store: Store, tenant: str) -> WebhookEndpoint:
    inst = make_instance(tenant, name=f"gh-{uuid.uuid4().hex[:6]}", connector="github")
    store.insert_instance(inst)
    return WebhookEndpoint(
        instance_id=inst.id,
        tenant_id=tenant,
        connector_id="github",
        token_hash="th",
        sealed=Sealed(b"secret-cipher", b"wrapped", "k1"),
        secret_source="generated",
        created_at=iso(NOW),
        updated_at=iso(NOW),
    )


def test_an_endpoint_is_found_by_instance_id_whatever_its_tenant(
    store: Store, events: EventWebhookStore
) -> None:
    """The receiver finds any tenant's endpoint; counting and deleting stay with the tenant."""
    ep = endpoint_for(store, "globex")
    events.put_endpoint(ep)
    assert events.get_endpoint(ep.instance_id) == ep
    with events.transaction():
        events.touch_endpoints({ep.instance_id: 3}, iso(NOW + 5))
    seen = events.get_endpoint(ep.instance_id)
    assert seen is not None
    assert (seen.total_received, seen.last_received_at) == (3, iso(NOW + 5))
    assert events.delete_endpoint("acme", ep.instance_id) is False
    assert events.delete_endpoint("globex", ep.instance_id) is True
    assert events.get_endpoint(ep.instance_id) is None


def test_sealed_secrets_are_listed_and_rewrapped_for_key_rotation(
    store: Store, events: EventWebhookStore
) -> None:
    """Every tenant's sealed webhook secrets come out and go back re-wrapped, with the credentials."""
    ep = endpoint_for(store, "globex")
    events.put_endpoint(ep)
    sub, subscr = subscription("acme")
    events.insert_subscription(sub, subscr)
    found = events.iter_sealed()
    assert {(r.instance_id, r.tenant_id, r.encryption_key_id) for r in found} == {
        (f"webhook-endpoint:{ep.instance_id}", "globex", "k1"),
        (f"webhook-subscription:{sub.id}", "acme", "k1"),
    }
    rewrapped = [
        CredentialRecord(
            instance_id=r.instance_id,
            tenant_id=r.tenant_id,
            credential_type=r.credential_type,
            encrypted_data=r.encrypted_data,
            wrapped_key=b"new-wrap",
            encryption_key_id="k2",
        )
        for r in found
    ]
    store.replace_credentials([], also=lambda: events.replace_sealed(rewrapped))
    assert {(r.wrapped_key, r.encryption_key_id) for r in events.iter_sealed()} == {(b"new-wrap", "k2")}
    assert events.get_endpoint(ep.instance_id).sealed.ciphertext == b"secret-cipher"  # type: ignore[union-attr]


# ---------------------------------------------------------------------- the CLI on PostgreSQL
def test_the_cli_publishes_and_delivers_webhooks_on_a_postgresql_profile(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """create, publish, deliver to a loopback receiver, list events and the delivery log; after a
    master key rotation the same signing secret still signs."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"

    def pg(*args: str, input: str | None = None) -> Any:
        out = cli("--profile", "pg", "--json", *args, input=input)
        assert out.exit_code == 0, out.stdout + out.stderr
        return out.json()

    try:
        assert cli("config", "set", "profiles.pg.database_url", schema_url(schema)).exit_code == 0
        assert cli("config", "set", "webhooks.allow_private_targets", "true").exit_code == 0
        with LoopbackServer() as server:
            server.route("POST", "/hook", Reply(200, {"ok": True}))
            sub = pg("webhooks", "create", "--url", server.url + "/hook", "--events", "deploy.*")
            event_id = pg("events", "publish", "deploy.finished", "-d", '{"service": "api"}')["id"]
            other = pg("events", "publish", "build.finished")["id"]
            stats = pg("webhooks", "deliver")
            new_key = base64.b64encode(b"r" * 32).decode()
            assert pg("vault", "rotate-key", "--new-key-stdin", input=new_key + "\n")["rewrapped"] >= 1
            monkeypatch.setenv("CUERVO_FABRIC_KEY", new_key)
            later = pg("events", "publish", "deploy.started")["id"]
            assert pg("webhooks", "deliver")["delivered"] == 1
            calls = server.calls("POST", "/hook")
        assert (stats["attempted"], stats["delivered"]) == (1, 1)
        assert [c.headers["webhook-id"] for c in calls] == [event_id, later]
        for req in calls:
            StandardWebhooks().verify(sub["secret"], IncomingWebhook.build(req.headers, req.body))
        assert [e["id"] for e in pg("events", "list")] == [later, other, event_id]
        log = pg("webhooks", "deliveries", sub["id"])
        assert [(a["eventId"], a["success"], a["responseStatus"]) for a in log] == [
            (later, True, 200),
            (event_id, True, 200),
        ]
        assert not (home / "fabric.db").exists()
    finally:
        drop_schema(schema)


def test_serve_receives_and_deduplicates_a_webhook_on_a_postgresql_profile(home: Path) -> None:
    """A signed GitHub webhook is stored once on PostgreSQL; its redelivery answers 200."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    try:
        assert cli("config", "set", "profiles.pg.database_url", schema_url(schema)).exit_code == 0
        assert cli("config", "set", "default_profile", "pg").exit_code == 0
        ep = github_endpoint()
        body = b'{"action": "opened", "number": 7}'
        headers = github_headers(ep["secret"], body, delivery="d-42")
        with serving(home) as (url, _proc):
            first = httpx.post(url + ep["path"], content=body, headers=headers, timeout=10)
            again = httpx.post(url + ep["path"], content=body, headers=headers, timeout=10)
            forged = httpx.post(url + ep["path"], content=body + b" ", headers=headers, timeout=10)
        assert (first.status_code, again.status_code) == (202, 200)
        assert forged.status_code == 401
        listed = cli("--json", "events", "list").json()
        assert [e["type"] for e in listed] == ["github.pull_request.opened"]
        assert listed[0]["metadata"]["originalWebhookId"] == "d-42"
        assert not (home / "fabric.db").exists()
    finally:
        drop_schema(schema)
