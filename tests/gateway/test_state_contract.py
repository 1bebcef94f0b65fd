"""The GatewayState port, the same on SQLite and PostgreSQL: atomic, per tenant, never over-admits."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from cuervo_fabric.domain.gateway import CallRecord, CircuitConfig, ProviderLimit
from cuervo_fabric.ports import GatewayState
from tests.contract.backends import Backend

NOW = 1_800_000_000.0
MINUTE = {"requestsPerMinute": 3, "requestsPerHour": 0, "concurrentRequests": 0}


def _state(store: Any) -> GatewayState:
    from cuervo_fabric.bootstrap import _gateway_state

    return _gateway_state(store)


@pytest.fixture
def gs(store: Any) -> GatewayState:
    return _state(store)


def test_bucket_refills_when_its_window_ends(gs: GatewayState) -> None:
    """3 per minute: 3 pass, the 4th waits exactly until the window's end, then all 3 come back."""
    assert [gs.rate_acquire("t", "i", MINUTE, 1, NOW + k, 35).allowed for k in range(3)] == [True] * 3
    refused = gs.rate_acquire("t", "i", MINUTE, 1, NOW + 10, 35)
    assert (refused.allowed, refused.limit_type) == (False, "connector")
    assert refused.retry_after_ms == 50_001
    assert gs.rate_acquire("t", "i", MINUTE, 1, NOW + 60, 35).allowed
    assert gs.rate_acquire("t", "other", MINUTE, 1, NOW + 10, 35).allowed  # per instance


def test_buckets_are_all_or_nothing(gs: GatewayState) -> None:
    """A call refused by the hour bucket takes nothing from the minute bucket; weights count."""
    limits = {"requestsPerMinute": 10, "requestsPerHour": 6, "concurrentRequests": 0}
    assert gs.rate_acquire("t", "i", limits, 5, NOW, 35).allowed
    refused = gs.rate_acquire("t", "i", limits, 5, NOW + 1, 35)
    assert not refused.allowed
    assert "per hour" in refused.reason
    ok = gs.rate_acquire("t", "i", limits, 1, NOW + 2, 35)
    assert ok.allowed
    assert {(b.window, b.remaining) for b in ok.buckets} == {("minute", 4), ("hour", 0)}


def test_tenant_limits_span_instances(gs: GatewayState) -> None:
    """A tenant-wide bucket is shared by the tenant's instances, and by no other tenant."""
    gs.set_tenant_limits("t", {"requestsPerMinute": 2}, "2027-01-15T08:00:00Z")
    none: dict[str, int] = {}
    assert gs.rate_acquire("t", "a", none, 1, NOW, 35).allowed
    assert gs.rate_acquire("t", "b", none, 1, NOW, 35).allowed
    refused = gs.rate_acquire("t", "c", none, 1, NOW, 35)
    assert refused.limit_type == "tenant"
    assert gs.rate_acquire("u", "c", none, 1, NOW, 35).allowed
    assert gs.tenant_limits("u") == {"requestsPerMinute": 0, "requestsPerHour": 0, "concurrentRequests": 0}


def test_concurrency_leases_release_and_expire(gs: GatewayState) -> None:
    """One slot: taken, refused, released, taken again; a lease nobody returns expires."""
    limits = {"requestsPerMinute": 0, "requestsPerHour": 0, "concurrentRequests": 1}
    first = gs.rate_acquire("t", "i", limits, 1, NOW, 30)
    assert first.allowed
    assert len(first.lease_ids) == 1
    refused = gs.rate_acquire("t", "i", limits, 1, NOW + 1, 30)
    assert not refused.allowed
    assert refused.retry_after_ms == 29_001
    gs.rate_release("t", first.lease_ids)
    assert gs.rate_acquire("t", "i", limits, 1, NOW + 2, 30).allowed  # never released
    assert gs.rate_acquire("t", "i", limits, 1, NOW + 40, 30).allowed  # the old lease expired


def test_provider_block_is_kept_until_it_ends(gs: GatewayState) -> None:
    """blocked_until refuses with limitType external; a shorter block never shortens it."""
    gs.provider_block("t", "i", ProviderLimit("github", blocked_until=NOW + 60, reason="primary"), NOW)
    gs.provider_block("t", "i", ProviderLimit("github", blocked_until=NOW + 5, reason="short"), NOW)
    refused = gs.rate_acquire("t", "i", {}, 1, NOW + 10, 35)
    assert (refused.limit_type, refused.retry_after_ms, refused.reason) == ("external", 50_001, "primary")
    assert gs.rate_acquire("t", "i", {}, 1, NOW + 61, 35).allowed
    gs.rate_reset("t", "i")
    assert gs.rate_status("t", "i", NOW)["provider"] == []


def test_breaker_cycle_with_probe_leases(gs: GatewayState) -> None:
    """Failures open it; open refuses; after the timeout one probe at a time; successes close it."""
    cfg = CircuitConfig(failure_threshold=2, success_threshold=2, timeout_ms=10_000, half_open_max_requests=1)
    for k in range(2):
        gs.circuit_record("t", "i", cfg, failed=True, probe_lease=None, now=NOW + k)
    closed_elsewhere = gs.circuit_admit("t", "j", cfg, NOW, 35)
    assert closed_elsewhere.allowed
    refused = gs.circuit_admit("t", "i", cfg, NOW + 5, 35)
    assert not refused.allowed
    assert refused.retry_after_ms == 6_001
    probe = gs.circuit_admit("t", "i", cfg, NOW + 12, 35)
    assert probe.allowed
    assert probe.probe_lease is not None
    assert not gs.circuit_admit("t", "i", cfg, NOW + 12, 35).allowed  # the one slot is taken
    gs.circuit_record("t", "i", cfg, failed=False, probe_lease=probe.probe_lease, now=NOW + 13)
    second = gs.circuit_admit("t", "i", cfg, NOW + 13, 35)
    assert second.probe_lease is not None  # sequential probes reach successThreshold
    after = gs.circuit_record("t", "i", cfg, failed=False, probe_lease=second.probe_lease, now=NOW + 14)
    assert (after.state, after.failure_count) == ("closed", 0)


def test_a_crashed_probe_frees_its_slot_and_a_failed_probe_reopens(gs: GatewayState) -> None:
    """A probe lease nobody returns expires; a failed probe opens the breaker again."""
    cfg = CircuitConfig(1, 1, 1_000, 1)
    gs.circuit_record("t", "i", cfg, failed=True, probe_lease=None, now=NOW)
    lost = gs.circuit_admit("t", "i", cfg, NOW + 2, 5)
    assert lost.probe_lease is not None
    assert not gs.circuit_admit("t", "i", cfg, NOW + 3, 5).allowed
    probe = gs.circuit_admit("t", "i", cfg, NOW + 8, 5)
    assert probe.probe_lease is not None
    after = gs.circuit_record("t", "i", cfg, failed=True, probe_lease=probe.probe_lease, now=NOW + 9)
    assert (after.state, after.next_retry_at) == ("open", NOW + 10)


def test_cache_entries_expire(gs: GatewayState) -> None:
    """A cached value is served until its expiry, per tenant and instance."""
    gs.cache_put("t", "i", "k", "item.get", '{"v": 1}', NOW + 30, NOW)
    assert gs.cache_get("t", "i", "k", NOW + 29) == '{"v": 1}'
    assert gs.cache_get("t", "i", "k", NOW + 30) is None
    assert gs.cache_get("u", "i", "k", NOW) is None


def test_calls_become_metrics_and_audit_rows(gs: GatewayState) -> None:
    """Counters add up, the audit log filters, and tenants see only their own rows."""

    def rec(tenant: str, status: str, code: str | None, at: float) -> CallRecord:
        return CallRecord(tenant, "i", "api", "http", "alice", "request", status, code, 12.5, 1, 1, False,
                          "trace", at, rate_limit_remaining=7)  # fmt: skip

    gs.record_calls(
        [
            rec("t", "success", None, NOW),
            rec("t", "error", "TIMEOUT", NOW + 1),
            rec("u", "success", None, NOW),
        ]
    )
    gs.record_calls([rec("t", "success", None, NOW + 2)])
    samples = {(n, tuple(sorted(lab.items()))): v for n, lab, v in gs.metric_samples("t")}
    key = tuple(
        sorted(
            {
                "tenant": "t",
                "connector": "http",
                "instance": "api",
                "action": "request",
                "status": "success",
            }.items()
        )
    )
    assert samples[("connector_requests_total", key)] == 2
    rows = gs.audit_rows("t")
    assert [r["status"] for r in rows] == ["success", "error", "success"]
    assert rows[0]["rate_limit_remaining"] == 7
    assert [r["error_code"] for r in gs.audit_rows("t", status="error")] == ["TIMEOUT"]
    assert len(gs.audit_rows("t", since=NOW + 1)) == 2
    assert len(gs.audit_rows("u")) == 1


def test_concurrent_takers_never_over_admit(backend: Backend) -> None:
    """Four connections racing for 30 tokens get exactly 30."""
    stores = [backend.open() for _ in range(4)]
    allowed: list[bool] = []
    lock = threading.Lock()
    limits = {"requestsPerMinute": 30, "requestsPerHour": 0, "concurrentRequests": 0}
    now = time.time()

    def take(state: GatewayState) -> None:
        for _ in range(20):
            ok = state.rate_acquire("t", "i", limits, 1, now, 35).allowed
            with lock:
                allowed.append(ok)

    threads = [threading.Thread(target=take, args=(_state(s),)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert allowed.count(True) == 30
    assert len(allowed) == 80


# --------------------------------------------------------------------------- the hot path's reads
def _limits(per_minute: int, per_hour: int = 0) -> dict[str, int]:
    return {"requestsPerMinute": per_minute, "requestsPerHour": per_hour, "concurrentRequests": 0}


def _used(gs: GatewayState, tenant: str, instance: str, now: float) -> dict[tuple[str, int], int]:
    """``(instance key, period_s) -> used`` of every bucket the tenant has (tenant buckets: key '')."""
    rows = gs.rate_status(tenant, instance, now)["buckets"]
    return {(str(b["instance_id"]), int(b["period_s"])): int(b["used"]) for b in rows}


def test_instance_view_reads_what_every_call_checks(store: Any, gs: GatewayState) -> None:
    """Status and version of the instance, its credential's version, its breaker row, the tenant's
    limits and the provider's latest block, each as the store holds it right now."""
    from cuervo_fabric.domain.models import InstanceStatus
    from tests.contract.factories import make_credential, make_instance

    inst = make_instance("t", "api", status=InstanceStatus.ACTIVE)
    store.insert_instance(inst)
    assert gs.instance_view("t", "missing") is None
    assert gs.instance_view("u", inst.id) is None  # another tenant's view of it: none

    view = gs.instance_view("t", inst.id)
    assert view is not None
    assert (view.status, view.updated_at) == ("active", inst.updated_at)
    assert view.credential_version is None
    assert view.circuit is None
    assert dict(view.tenant_limits) == {"requestsPerMinute": 0, "requestsPerHour": 0, "concurrentRequests": 0}
    assert view.blocked_until is None

    store.put_credential(make_credential(inst, wrapped_key=b"wrapped\x00one"))
    first = gs.instance_view("t", inst.id)
    assert first is not None
    assert first.credential_version == b"wrapped\x00one"
    assert isinstance(first.credential_version, bytes)
    store.put_credential(make_credential(inst, wrapped_key=b"wrapped\x00two"))
    second = gs.instance_view("t", inst.id)
    assert second is not None
    assert second.credential_version == b"wrapped\x00two"

    gs.circuit_force("t", inst.id, open=True, until=NOW + 600, reason="maintenance", now=NOW)
    gs.provider_block("t", inst.id, ProviderLimit("core", blocked_until=NOW + 60, reason="a"), NOW)
    gs.provider_block("t", inst.id, ProviderLimit("search", blocked_until=NOW + 90, reason="b"), NOW)
    gs.set_tenant_limits("t", {"requestsPerMinute": 7}, "2027-01-15T08:00:00Z")
    after = gs.instance_view("t", inst.id)
    assert after is not None
    assert after.circuit is not None
    assert (after.circuit.state, after.circuit.forced, after.circuit.reason) == ("open", True, "maintenance")
    assert after.circuit.next_retry_at == NOW + 600
    assert after.blocked_until == NOW + 90  # the latest of the instance's blocks
    assert dict(after.tenant_limits) == {
        "requestsPerMinute": 7,
        "requestsPerHour": 0,
        "concurrentRequests": 0,
    }
    assert (after.status, after.updated_at) == ("active", inst.updated_at)  # none of that is the instance

    gs.circuit_force("t", inst.id, open=False, until=None, reason="by hand", now=NOW + 1)
    closed = gs.instance_view("t", inst.id)
    assert closed is not None
    assert closed.circuit is not None
    assert closed.circuit.state == "closed"


def test_a_reserve_is_taken_only_when_every_bucket_has_room(gs: GatewayState) -> None:
    """reserve=5 on 100/minute takes 6 and says so; on a bucket of 3 it takes just the weight."""
    big = gs.rate_acquire("t", "i", _limits(100), 1, NOW, 35, reserve=5)
    assert (big.allowed, big.reserved) == (True, 5)
    assert big.windows == (("i", 60, NOW),)
    assert _used(gs, "t", "i", NOW) == {("i", 60): 6}
    assert [b.remaining for b in big.buckets] == [94]

    assert gs.rate_acquire("t", "j", _limits(3), 1, NOW, 35).allowed  # the bucket's window is under way
    small = gs.rate_acquire("t", "j", _limits(3), 1, NOW + 1, 35, reserve=5)
    assert (small.allowed, small.reserved) == (True, 0)
    assert [b.remaining for b in small.buckets] == [1]
    assert _used(gs, "t", "j", NOW + 1) == {("j", 60): 2}
    assert gs.rate_acquire("t", "j", _limits(3), 1, NOW + 2, 35, reserve=5).reserved == 0
    assert not gs.rate_acquire("t", "j", _limits(3), 1, NOW + 3, 35, reserve=5).allowed
    assert _used(gs, "t", "j", NOW + 3) == {("j", 60): 3}


def test_a_reserve_larger_than_a_new_bucket_takes_just_the_weight(gs: GatewayState) -> None:
    """The very first take of a window, with no bucket row yet: 1 + 5 does not fit in 3."""
    small = gs.rate_acquire("t", "j", _limits(3), 1, NOW, 35, reserve=5)
    assert small.allowed
    assert _used(gs, "t", "j", NOW) == {("j", 60): 1}
    assert small.reserved == 0


def test_a_reserve_is_all_or_nothing_across_buckets(gs: GatewayState) -> None:
    """Minute, hour and tenant buckets each give the reserve, or none does (the call still passes)."""
    gs.set_tenant_limits("t", {"requestsPerMinute": 100}, "2027-01-15T08:00:00Z")
    both = gs.rate_acquire("t", "i", _limits(100, 1000), 1, NOW, 35, reserve=5)
    assert (both.allowed, both.reserved) == (True, 5)
    assert sorted(both.windows) == [("", 60, NOW), ("i", 60, NOW), ("i", 3600, NOW)]
    assert _used(gs, "t", "i", NOW) == {("", 60): 6, ("i", 60): 6, ("i", 3600): 6}
    gs.rate_give_back("t", both.windows, 5)
    assert _used(gs, "t", "i", NOW) == {("", 60): 1, ("i", 60): 1, ("i", 3600): 1}

    # j's hour bucket holds 4 and has 1 used: 1 + 5 does not fit there, so no bucket gives more.
    assert gs.rate_acquire("t", "j", _limits(100, 4), 1, NOW, 35).allowed
    assert _used(gs, "t", "j", NOW) == {("", 60): 2, ("j", 60): 1, ("j", 3600): 1}
    short = gs.rate_acquire("t", "j", _limits(100, 4), 1, NOW + 1, 35, reserve=5)
    assert (short.allowed, short.reserved) == (True, 0)
    assert _used(gs, "t", "j", NOW + 1) == {("", 60): 3, ("j", 60): 2, ("j", 3600): 2}


def test_unspent_tokens_go_back_to_their_own_window_only(gs: GatewayState) -> None:
    """Giving 5 back restores what was reserved; once the window moved on, it changes nothing."""
    taken = gs.rate_acquire("t", "i", _limits(100), 1, NOW, 35, reserve=5)
    assert _used(gs, "t", "i", NOW) == {("i", 60): 6}
    gs.rate_give_back("t", taken.windows, 5)
    assert _used(gs, "t", "i", NOW) == {("i", 60): 1}
    gs.rate_give_back("t", taken.windows, 0)  # nothing to give: nothing changes
    assert _used(gs, "t", "i", NOW) == {("i", 60): 1}

    old = gs.rate_acquire("t", "i", _limits(100), 1, NOW + 1, 35, reserve=5)
    assert old.reserved == 5
    assert old.windows == (("i", 60, NOW),)  # still the window that started at NOW
    assert _used(gs, "t", "i", NOW + 1) == {("i", 60): 7}
    later = gs.rate_acquire("t", "i", _limits(100), 1, NOW + 61, 35)
    assert later.windows == (("i", 60, NOW + 61),)
    assert _used(gs, "t", "i", NOW + 61) == {("i", 60): 1}
    gs.rate_give_back("t", old.windows, 5)  # its window ended: the new one keeps its count
    assert _used(gs, "t", "i", NOW + 61) == {("i", 60): 1}
    gs.rate_give_back("u", later.windows, 1)  # another tenant's give-back never touches t's buckets
    assert _used(gs, "t", "i", NOW + 61) == {("i", 60): 1}


def test_change_marker_moves_with_every_write_or_is_none(backend: Backend) -> None:
    """Equal while nothing changed; different after a write by this or another connection.
    A backend that cannot tell cheaply says ``None`` (PostgreSQL) and callers re-read."""
    mine, other = _state(backend.open()), _state(backend.open())
    first = mine.change_marker()
    if backend.name == "postgres":
        assert first is None
        other.set_tenant_limits("t", {"requestsPerMinute": 5}, "2027-01-15T08:00:00Z")
        assert mine.change_marker() is None
        return
    assert first is not None
    assert mine.change_marker() == first
    assert mine.change_marker() == first
    other.set_tenant_limits("t", {"requestsPerMinute": 5}, "2027-01-15T08:00:00Z")
    second = mine.change_marker()
    assert second != first
    assert mine.change_marker() == second
    mine.rate_acquire("t", "i", _limits(100), 1, NOW, 35)
    third = mine.change_marker()
    assert third not in (first, second)
    assert mine.change_marker() == third
