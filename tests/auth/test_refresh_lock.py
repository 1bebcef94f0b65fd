"""The refresh lease in the store (SQLite and PostgreSQL): one holder, expiry, tenant scoping.

And the credential service on top of it: threads refreshing one credential at once refresh it once.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from cuervo_fabric.domain.models import ConnectorInstance, Features, InstanceStatus, RateLimits
from cuervo_fabric.ports import CredentialRecord, MasterKeyInfo, RotationResult, Store
from cuervo_fabric.services.credentials import CredentialService, Renewal


def _instance(store: Store, tenant: str = "t1", iid: str = "i1") -> ConnectorInstance:
    inst = ConnectorInstance(
        id=iid,
        tenant_id=tenant,
        connector_id="http",
        name=iid,
        version="1.0.0",
        status=InstanceStatus.ACTIVE,
        settings={},
        auth_type="oauth2",
        rate_limits=RateLimits(),
        features=Features(),
        installed_at="2026-01-01T00:00:00.000000Z",
        installed_by="test",
        updated_at="2026-01-01T00:00:00.000000Z",
    )
    store.insert_instance(inst)
    return inst


def test_one_holder_at_a_time_and_an_expired_lease_is_taken_over(store: Store) -> None:
    """A held lease refuses others until released or expired; only the holder releases it."""
    _instance(store)
    now = 1000.0
    assert store.try_refresh_lock("t1", "i1", "a", now + 30, now) is True
    assert store.try_refresh_lock("t1", "i1", "b", now + 30, now + 1) is False
    store.release_refresh_lock("t1", "i1", "b")  # not b's lease: nothing happens
    assert store.try_refresh_lock("t1", "i1", "b", now + 30, now + 2) is False
    assert store.try_refresh_lock("t1", "i1", "b", now + 100, now + 31) is True  # a crashed: expired
    store.release_refresh_lock("t1", "i1", "b")
    assert store.try_refresh_lock("t1", "i1", "c", now + 200, now + 32) is True


def test_leases_are_per_tenant_and_instance(store: Store) -> None:
    """Another instance or tenant has its own lease."""
    _instance(store)
    _instance(store, "t2", "i2")
    assert store.try_refresh_lock("t1", "i1", "a", 2000.0, 1000.0)
    assert store.try_refresh_lock("t2", "i2", "b", 2000.0, 1000.0)


class _PlainVault:
    """A test vault that keeps payloads readable (the lease logic is under test, not crypto)."""

    def seal(self, tenant_id: str, instance_id: str, payload: dict[str, Any]) -> tuple[bytes, bytes, str]:
        import json

        return json.dumps(payload).encode(), b"", "k_plain"

    def open(self, record: CredentialRecord) -> dict[str, Any]:
        import json

        return dict(json.loads(record.encrypted_data))

    def key_info(self) -> MasterKeyInfo:
        return MasterKeyInfo("k_plain", "env", "test", True)

    def peek_key_info(self) -> MasterKeyInfo | None:
        return self.key_info()

    def rotate(self, records: Any, commit: Any, *, new_key: bytes | None = None) -> RotationResult:
        raise NotImplementedError


def test_concurrent_refreshes_in_one_process_renew_once(store: Store) -> None:
    """Eight threads find the token due: one renews, the others re-read and use its result."""
    inst = _instance(store)
    service = CredentialService(store, _PlainVault())
    service.save(inst, {"access_token": "old", "refresh_token": "rt-1"}, expires_at=time.time() - 1)
    calls: list[str] = []
    lock = threading.Lock()

    def renew(instance: ConnectorInstance, secret: dict[str, Any]) -> Renewal:
        with lock:
            calls.append(secret["refresh_token"])
        time.sleep(0.2)
        return Renewal({"access_token": "new", "refresh_token": "rt-2"}, time.time() + 3600)

    results: list[str] = []

    def worker() -> None:
        secret, _ = service.fresh(inst, renew)
        with lock:
            results.append(secret["access_token"])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["rt-1"]
    assert results == ["new"] * 8
