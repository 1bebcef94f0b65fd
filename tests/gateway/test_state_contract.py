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
