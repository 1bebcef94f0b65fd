"""The ``Store`` port's contract, run unchanged against SQLite and PostgreSQL.

Every test takes the ``store`` fixture (and sometimes ``backend``, to reopen the same database or
to run owner-side SQL); both are parametrized over ``[sqlite, postgres]`` in ``backends.py``.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid

import pytest

from cuervo_fabric.domain.models import ConnectorInstance, InstanceStatus, RateLimits
from cuervo_fabric.errors import InvalidInputError
from cuervo_fabric.ports import Store
from cuervo_fabric.registry import EntryPointRegistry
from cuervo_fabric.store.migrations import migrations
from tests.contract.backends import Backend
from tests.contract.factories import make_credential, make_instance

S = InstanceStatus


# ---------------------------------------------------------------------- instances
def test_insert_then_get_returns_the_same_instance(store: Store) -> None:
    """Every field written comes back equal, timestamps and JSON included."""
    inst = make_instance(last_error="boom", last_error_at="2026-03-04T05:06:07.000001Z")
    store.insert_instance(inst)
    assert store.get_instance("acme", inst.id) == inst


def test_get_unknown_instance_returns_none(store: Store) -> None:
    """An id nobody inserted is absent, not an error."""
    assert store.get_instance("acme", uuid.uuid4().hex) is None


def test_list_orders_by_install_time_and_hides_uninstalled(store: Store) -> None:
    """Live instances in install order; uninstalled ones only on request."""
    first = make_instance(name="one")
    second = make_instance(name="two")
    gone = make_instance(name="three", status=S.UNINSTALLED)
    for inst in (second, gone, first):
        store.insert_instance(inst)
    assert [i.id for i in store.list_instances("acme")] == [first.id, second.id]
    everything = store.list_instances("acme", include_uninstalled=True)
    assert [i.id for i in everything] == [first.id, second.id, gone.id]


def test_update_applies_changes_and_returns_the_row(store: Store) -> None:
    """Changed fields are written and the new instance is returned."""
    inst = make_instance()
    store.insert_instance(inst)
    changes = {
        "status": S.ACTIVE,
        "settings": {"base_url": "http://127.0.0.1:2"},
        "rate_limits": RateLimits(requests_per_hour=100),
        "updated_at": "2026-05-06T07:08:09.123456Z",
        "last_activity_at": "2026-05-06T07:08:09.654321Z",
    }
    updated = store.update_instance("acme", inst.id, changes)
    expected = dataclasses.replace(inst, **changes)
    assert updated == expected
    assert store.get_instance("acme", inst.id) == expected


def test_conditional_update_loser_gets_none_and_changes_nothing(store: Store) -> None:
    """With ``expected_status``, only the first of two racers wins; the other gets None."""
    inst = make_instance(status=S.ACTIVE)
    store.insert_instance(inst)
    won = store.update_instance("acme", inst.id, {"status": S.PAUSED}, expected_status=S.ACTIVE)
    lost = store.update_instance(
        "acme", inst.id, {"status": S.ERROR, "status_reason": "late"}, expected_status=S.ACTIVE
    )
    assert won is not None
    assert won.status is S.PAUSED
    assert lost is None
    assert store.get_instance("acme", inst.id) == won


def test_concurrent_conditional_updates_have_exactly_one_winner(store: Store, backend: Backend) -> None:
    """Eight connections update one row with the same ``expected_status`` at once: one wins."""
    inst = make_instance(status=S.ACTIVE)
    store.insert_instance(inst)
    racers = [backend.open() for _ in range(8)]
    start = threading.Barrier(len(racers))
    results: list[ConnectorInstance | None] = [None] * len(racers)
    errors: list[BaseException] = []

    def race(i: int) -> None:
        try:
            start.wait()
            results[i] = racers[i].update_instance(
                "acme", inst.id, {"status": S.PAUSED, "status_reason": f"racer {i}"}, expected_status=S.ACTIVE
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(racers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert store.get_instance("acme", inst.id) == winners[0]


def test_update_without_changes_returns_the_current_row(store: Store) -> None:
    """An empty change set writes nothing and returns what is stored."""
    inst = make_instance()
    store.insert_instance(inst)
    assert store.update_instance("acme", inst.id, {}) == inst


def test_update_of_unknown_field_is_invalid_input(store: Store) -> None:
    """Only the instance's own fields can change."""
    inst = make_instance()
    store.insert_instance(inst)
    with pytest.raises(InvalidInputError):
        store.update_instance("acme", inst.id, {"tenant_id": "other"})
    assert store.get_instance("acme", inst.id) == inst


def test_update_of_missing_instance_returns_none(store: Store) -> None:
    """Updating an id that does not exist matches no row."""
    assert store.update_instance("acme", uuid.uuid4().hex, {"status_reason": "x"}) is None


# ---------------------------------------------------------------------- names
def test_duplicate_live_name_is_invalid_input_naming_the_field(store: Store) -> None:
    """Two live instances of a tenant cannot share a name; nothing is written."""
    store.insert_instance(make_instance(name="work"))
    with pytest.raises(InvalidInputError) as err:
        store.insert_instance(make_instance(name="work"))
    assert err.value.details["field"] == "name"
    assert "work" in err.value.message
    assert len(store.list_instances("acme", include_uninstalled=True)) == 1


def test_rename_onto_a_taken_name_is_invalid_input(store: Store) -> None:
    """``update_instance`` enforces the same uniqueness and leaves both rows alone."""
    a = make_instance(name="a")
    b = make_instance(name="b")
    store.insert_instance(a)
    store.insert_instance(b)
    with pytest.raises(InvalidInputError) as err:
        store.update_instance("acme", b.id, {"name": "a"})
    assert err.value.details["field"] == "name"
    assert store.get_instance("acme", b.id) == b


def test_name_is_free_again_after_uninstall(store: Store) -> None:
    """An uninstalled instance keeps its row but releases its name."""
    old = make_instance(name="work")
    store.insert_instance(old)
    store.update_instance("acme", old.id, {"status": S.UNINSTALLED}, expected_status=S.INSTALLED)
    new = make_instance(name="work")
    store.insert_instance(new)
    assert [i.id for i in store.list_instances("acme")] == [new.id]
    assert {i.id for i in store.list_instances("acme", include_uninstalled=True)} == {old.id, new.id}


def test_same_name_is_allowed_in_another_tenant(store: Store) -> None:
    """Names are unique per tenant, not globally."""
    store.insert_instance(make_instance("acme", "work"))
    store.insert_instance(make_instance("globex", "work"))
    assert [i.name for i in store.list_instances("globex")] == ["work"]


# ---------------------------------------------------------------------- tenants
def test_another_tenant_sees_nothing(store: Store) -> None:
    """Instances and credentials of one tenant are invisible to another."""
    inst = make_instance("acme")
    store.insert_instance(inst)
    store.put_credential(make_credential(inst))
    assert store.get_instance("globex", inst.id) is None
    assert store.list_instances("globex", include_uninstalled=True) == []
    assert store.get_credential("globex", inst.id) is None


def test_another_tenant_cannot_change_or_delete(store: Store) -> None:
    """Updates, credential deletes and purges from another tenant touch nothing."""
    inst = make_instance("acme")
    store.insert_instance(inst)
    cred = make_credential(inst)
    store.put_credential(cred)
    assert store.update_instance("globex", inst.id, {"status": S.PAUSED}) is None
    assert store.update_instance("globex", inst.id, {"name": "x"}, expected_status=S.INSTALLED) is None
    assert store.delete_credentials("globex", inst.id) == 0
    store.purge_instance_data("globex", inst.id)
    assert store.get_instance("acme", inst.id) == inst
    assert store.get_credential("acme", inst.id) == cred


# ---------------------------------------------------------------------- credentials
def test_credential_round_trips_bytes_times_and_metadata(store: Store) -> None:
    """A stored credential reads back equal: raw bytes, epoch seconds, JSON metadata."""
    inst = make_instance()
    store.insert_instance(inst)
    cred = make_credential(inst)
    store.put_credential(cred)
    assert store.get_credential("acme", inst.id) == cred


def test_credential_without_expiry_round_trips(store: Store) -> None:
    """Optional instants stay ``None`` and empty metadata reads back as ``{}``."""
    inst = make_instance()
    store.insert_instance(inst)
    cred = make_credential(inst, expires_at=None, refreshed_at=None, metadata=None)
    store.put_credential(cred)
    assert store.get_credential("acme", inst.id) == dataclasses.replace(cred, metadata={})


def test_put_credential_replaces_the_instance_credential(store: Store) -> None:
    """One credential per instance: a second put overwrites the first, keeping ``created_at``."""
    inst = make_instance()
    store.insert_instance(inst)
    store.put_credential(make_credential(inst))
    newer = make_credential(
        inst,
        credential_type="oauth2_token",
        encrypted_data=b"new",
        expires_at=1_950_000_000.0,
        created_at=1_750_000_000.0,
    )
    store.put_credential(newer)
    assert store.get_credential("acme", inst.id) == dataclasses.replace(newer, created_at=1_700_000_000.5)
    assert len(list(store.iter_all_credentials())) == 1


def test_delete_credentials_reports_the_rows_deleted(store: Store) -> None:
    """Deleting returns 1 the first time and 0 after."""
    inst = make_instance()
    store.insert_instance(inst)
    store.put_credential(make_credential(inst))
    assert store.delete_credentials("acme", inst.id) == 1
    assert store.delete_credentials("acme", inst.id) == 0
    assert store.get_credential("acme", inst.id) is None


def test_iter_and_replace_credentials_span_every_tenant(store: Store) -> None:
    """Key rotation reads every tenant's credentials and rewrites them in one go."""
    a = make_instance("acme")
    g = make_instance("globex")
    for inst in (a, g):
        store.insert_instance(inst)
        store.put_credential(make_credential(inst))
    found = sorted(store.iter_all_credentials(), key=lambda r: r.tenant_id)
    assert [r.tenant_id for r in found] == ["acme", "globex"]
    rotated = [
        dataclasses.replace(
            r, encrypted_data=b"re-" + r.tenant_id.encode(), wrapped_key=b"w2", encryption_key_id="k2"
        )
        for r in found
    ]
    store.replace_credentials(rotated)
    assert store.get_credential("acme", a.id) == rotated[0]
    assert store.get_credential("globex", g.id) == rotated[1]


# ---------------------------------------------------------------------- refresh locks
def test_refresh_lock_has_one_holder_until_it_expires_or_is_released(store: Store) -> None:
    """A lease is exclusive, re-entrant for its holder, free after expiry, released only by its holder."""
    inst = make_instance()
    store.insert_instance(inst)
    assert store.try_refresh_lock("acme", inst.id, "p1", until=110.0, now=100.0)
    assert not store.try_refresh_lock("acme", inst.id, "p2", until=115.0, now=105.0)
    assert store.try_refresh_lock("acme", inst.id, "p1", until=120.0, now=106.0)
    store.release_refresh_lock("acme", inst.id, "p2")
    assert not store.try_refresh_lock("acme", inst.id, "p2", until=125.0, now=119.0)
    assert store.try_refresh_lock("acme", inst.id, "p2", until=135.0, now=121.0)
    store.release_refresh_lock("acme", inst.id, "p2")
    assert store.try_refresh_lock("acme", inst.id, "p3", until=140.0, now=122.0)


def test_refresh_locks_are_per_tenant_and_purged_with_the_instance(store: Store) -> None:
    """Another tenant's lease on the same id is independent; uninstall's purge frees the lease."""
    inst = make_instance()
    store.insert_instance(inst)
    assert store.try_refresh_lock("acme", inst.id, "p1", until=200.0, now=100.0)
    assert store.try_refresh_lock("globex", inst.id, "p9", until=200.0, now=100.0)
    store.purge_instance_data("acme", inst.id)
    assert store.try_refresh_lock("acme", inst.id, "p2", until=200.0, now=101.0)
    assert not store.try_refresh_lock("globex", inst.id, "p2", until=200.0, now=101.0)


# ---------------------------------------------------------------------- registry
def test_sync_registry_is_idempotent_and_updates_versions(store: Store) -> None:
    """Syncing twice leaves one row per connector; a new version replaces the old one."""
    specs = EntryPointRegistry().specs()
    store.sync_registry(specs)
    first = store.list_registry()
    store.sync_registry(specs)
    again = store.list_registry()
    assert [r["id"] for r in again] == sorted(s.id for s in specs)
    assert [{k: v for k, v in r.items() if k != "updated_at"} for r in again] == [
        {k: v for k, v in r.items() if k != "updated_at"} for r in first
    ]
    http = next(s for s in specs if s.id == "http")
    store.sync_registry([dataclasses.replace(http, version="9.9.9")])
    row = next(r for r in store.list_registry() if r["id"] == "http")
    assert row["latest_version"] == "9.9.9"
    assert row["created_at"] == next(r for r in first if r["id"] == "http")["created_at"]


def test_registry_rows_have_one_shape_on_every_backend(store: Store) -> None:
    """JSON columns are JSON text, flags 0/1 and times ISO-8601 text, whatever the backend."""
    specs = EntryPointRegistry().specs()
    store.sync_registry(specs)
    row = next(r for r in store.list_registry() if r["id"] == "http")
    http = next(s for s in specs if s.id == "http").to_dict()
    assert json.loads(row["capabilities"]) == http["capabilities"]
    assert json.loads(row["config_schema"]) == http["configSchema"]
    assert row["is_first_party"] == 1
    assert row["status"] == "active"
    assert row["created_at"].endswith("Z")
    assert len(row["created_at"]) == 27


# ---------------------------------------------------------------------- purge
def test_purge_removes_the_instance_data_and_keeps_its_row(store: Store, backend: Backend) -> None:
    """Credentials and rows of instance-owned ``gw_*`` tables go; the instance and others stay."""
    backend.execute(
        "CREATE TABLE gw_contract_probe (tenant_id TEXT NOT NULL, instance_id TEXT NOT NULL, v TEXT)"
    )
    target = make_instance(name="target")
    other = make_instance(name="other")
    for inst in (target, other):
        store.insert_instance(inst)
        store.put_credential(make_credential(inst))
        backend.execute("INSERT INTO gw_contract_probe VALUES (?, ?, ?)", ("acme", inst.id, inst.name))
    backend.execute("INSERT INTO gw_contract_probe VALUES (?, ?, ?)", ("globex", target.id, "foreign"))
    store.purge_instance_data("acme", target.id)
    assert store.get_credential("acme", target.id) is None
    assert store.get_credential("acme", other.id) is not None
    assert store.get_instance("acme", target.id) == target
    left = sorted(backend.execute("SELECT tenant_id, v FROM gw_contract_probe"))
    assert left == [("acme", "other"), ("globex", "foreign")]


# ---------------------------------------------------------------------- migrations
def test_schema_version_is_the_latest_migration(store: Store) -> None:
    """A new store is migrated to the newest numbered migration of its backend."""
    latest = migrations(store.backend)[-1][0]
    assert store.schema_version() == latest  # type: ignore[attr-defined]


def test_opening_twice_migrates_once_and_keeps_data(store: Store, backend: Backend) -> None:
    """Reopening a migrated database applies nothing again and loses nothing."""
    inst = make_instance()
    store.insert_instance(inst)
    version = store.schema_version()  # type: ignore[attr-defined]
    again = backend.open()
    assert again.schema_version() == version  # type: ignore[attr-defined]
    assert again.get_instance("acme", inst.id) == inst
    again.insert_instance(make_instance(name="second"))
    assert len(store.list_instances("acme")) == 2
