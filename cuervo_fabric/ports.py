"""Ports: the protocols the services depend on. Adapters live in ``store/``, ``vault/``, ...

Services import these protocols and the domain only; ``bootstrap.py`` picks the adapters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from cuervo_fabric.domain.models import ConnectorInstance, ConnectorSpec, InstanceStatus, IntegrationEvent
from cuervo_fabric.domain.subscriptions import (
    EventDelivery,
    Sealed,
    StoredEvent,
    Subscriber,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookSubscription,
)

if TYPE_CHECKING:  # only in annotations: kept off the import path of every command
    from cuervo_fabric.domain.gateway import (
        CallRecord,
        CircuitAdmission,
        CircuitConfig,
        CircuitSnapshot,
        InstanceView,
        ProviderLimit,
        RateDecision,
    )

__all__ = [
    "AppendResult",
    "Clock",
    "ConnectorRegistry",
    "CredentialRecord",
    "DeliveryUpdate",
    "EventStore",
    "EventWebhookStore",
    "GatewayState",
    "MasterKeyInfo",
    "RotationResult",
    "Store",
    "Vault",
    "WebhookStore",
]


class Clock(Protocol):
    """Wall and monotonic time, injectable so tests need no sleeping."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    """An encrypted credential row; ``encrypted_data`` never holds clear text."""

    instance_id: str
    tenant_id: str
    credential_type: str
    encrypted_data: bytes
    wrapped_key: bytes
    encryption_key_id: str
    expires_at: float | None = None
    refreshed_at: float | None = None
    created_at: float = 0.0
    metadata: dict[str, Any] | None = None


class Store(Protocol):
    """Persistence of everything the fabric owns. Every tenant-owned query is scoped by tenant."""

    backend: str

    def close(self) -> None: ...

    # --- the registry (platform-wide, not tenant-owned) ---
    def sync_registry(self, specs: Sequence[ConnectorSpec]) -> None: ...

    def list_registry(self) -> list[dict[str, Any]]: ...

    # --- instances ---
    def insert_instance(self, instance: ConnectorInstance) -> None:
        """Insert; raises ``InvalidInputError`` when the name is taken in the tenant."""
        ...

    def get_instance(self, tenant_id: str, instance_id: str) -> ConnectorInstance | None: ...

    def list_instances(
        self, tenant_id: str, *, include_uninstalled: bool = False
    ) -> list[ConnectorInstance]: ...

    def update_instance(
        self,
        tenant_id: str,
        instance_id: str,
        changes: dict[str, Any],
        *,
        expected_status: InstanceStatus | None = None,
    ) -> ConnectorInstance | None:
        """Apply ``changes`` in one conditional statement.

        Returns the updated instance, or ``None`` when no row matched (gone, other tenant, or its
        status is no longer ``expected_status`` because another process moved it first).
        """
        ...

    def purge_instance_data(self, tenant_id: str, instance_id: str) -> None:
        """Delete what belongs to the instance (credentials, gateway state), keep its row."""
        ...

    # --- credentials ---
    def put_credential(self, record: CredentialRecord) -> None:
        """Insert or replace the instance's credential, fenced by the vault's key state.

        Atomically with the write: a record sealed with a master key a rotation retired is refused
        with ``AuthFailedError`` (``details``: ``reason="master_key_retired"``, ``keyId``,
        ``currentKeyId``) and nothing is written; when no key is current yet (the first
        credential), the record's key becomes the current one.
        """
        ...

    def get_credential(self, tenant_id: str, instance_id: str) -> CredentialRecord | None: ...

    def delete_credentials(self, tenant_id: str, instance_id: str) -> int: ...

    def iter_all_credentials(self) -> Iterator[CredentialRecord]:
        """Every credential of every tenant: key rotation only."""
        ...

    def replace_credentials(
        self,
        records: Sequence[CredentialRecord],
        *,
        also: Callable[[], None] | None = None,
        expected: Mapping[tuple[str, str], bytes] | None = None,
        rotation: tuple[str, str | None] | None = None,
    ) -> list[CredentialRecord]:
        """Rewrite many credentials in one transaction (key rotation).

        ``also`` runs inside that same transaction where the backend can (the SQLite event store
        shares the connection), so sealed webhook secrets are re-wrapped atomically with them.

        ``expected`` makes it a compare-and-swap: ``(tenant, instance) -> wrapped_key`` as the
        rotation read them. When any credential of any tenant differs from it (written or added
        since), nothing is written and those credentials, as they are now, are returned; the
        caller re-wraps them and tries again. ``[]`` means written.

        ``rotation=(old key id, new key id or None)`` records, in the same transaction and under
        the lock credential writes take, the new key as current and the old one (and the
        previously current one) as retired, so ``put_credential`` refuses them from then on.
        """
        ...

    def vault_key_state(self) -> tuple[str | None, frozenset[str]]:
        """``(current master key id or None, key ids a rotation retired)``: the vault's fence."""
        ...

    # --- credential refresh locks (leases in ``gw_refresh_locks``) ---
    def try_refresh_lock(
        self, tenant_id: str, instance_id: str, holder: str, until: float, now: float
    ) -> bool:
        """Take the instance's refresh lease for ``holder`` if it is free or expired (one statement)."""
        ...

    def release_refresh_lock(self, tenant_id: str, instance_id: str, holder: str) -> None:
        """Give the lease back (only ``holder``'s own lease is removed)."""
        ...


@dataclass(frozen=True, slots=True)
class MasterKeyInfo:
    """Where the vault's master key comes from (shown by ``vault status``)."""

    key_id: str
    source: str  # env | keyring | file
    detail: str
    secure: bool


@dataclass(frozen=True, slots=True)
class RotationResult:
    """What ``vault rotate-key`` did."""

    old_key_id: str
    new_key_id: str
    rewrapped: int
    source: str


class Vault(Protocol):
    """Encrypts and decrypts credential payloads, bound to tenant and instance."""

    def seal(self, tenant_id: str, instance_id: str, payload: dict[str, Any]) -> tuple[bytes, bytes, str]:
        """Return ``(ciphertext, wrapped_data_key, key_id)``."""
        ...

    def open(self, record: CredentialRecord) -> dict[str, Any]: ...

    def key_info(self) -> MasterKeyInfo:
        """The current master key's facts (a key is created on first use)."""
        ...

    def peek_key_info(self) -> MasterKeyInfo | None:
        """The current master key's facts, or ``None`` when there is none (never creates one)."""
        ...

    def rotate(
        self,
        records: Sequence[CredentialRecord],
        commit: Callable[[list[CredentialRecord]], Sequence[CredentialRecord] | None],
        *,
        new_key: bytes | None = None,
    ) -> RotationResult:
        """Re-wrap every record's data key under a new master key; ``commit`` stores them at once.

        ``commit`` may instead store nothing and return the records that changed since they were
        read; those are re-wrapped and everything is committed again (a bounded number of times).
        """
        ...


class ConnectorRegistry(Protocol):
    """Connectors discovered through the ``cuervo_fabric.connectors`` entry-point group."""

    def specs(self) -> list[ConnectorSpec]: ...

    def get(self, connector_id: str, version: str | None = None) -> ConnectorSpec: ...

    def load(self, connector_id: str) -> Any:
        """The connector class (an ``sdk.BaseConnector`` subclass)."""
        ...


# ---------------------------------------------------------------------- events and webhooks


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What appending one event did: its id and log position, or the original it duplicates."""

    event_id: str
    seq: int
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryUpdate:
    """The outcome of one attempt at a claimed delivery, to be written by ``EventStore.finish``."""

    delivery_id: int
    status: str  # done | pending | dead
    next_attempt_at: float
    error: str | None = None
    http_status: int | None = None
    disable_subscriber: bool = False


class EventStore(Protocol):
    """The event log (outbox), its durable subscribers and their deliveries.

    ``transaction()`` opens a unit of work on the store's own connection, or joins the one already
    open: an event appended inside ``with store.transaction(): ...`` commits or rolls back together
    with every other change made there (the transactional outbox).
    """

    def transaction(self) -> AbstractContextManager[Any]: ...

    # --- the log ---
    def append_events(
        self, events: Sequence[IntegrationEvent], *, target_subscriber: str | None = None
    ) -> list[AppendResult]:
        """Append in one transaction; an event whose ``original_webhook_id`` was already logged for
        the same tenant and source is not appended again (``duplicate``)."""
        ...

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
    ) -> list[StoredEvent]: ...

    def get_event(self, tenant_id: str, ref: str) -> StoredEvent | None:
        """By id, unique id prefix (8+ characters) or ``seq``."""
        ...

    def events_by_id(self, event_ids: Sequence[str]) -> dict[str, StoredEvent]: ...

    def max_seq(self) -> int: ...

    # --- subscribers ---
    def upsert_subscriber(self, subscriber: Subscriber, *, from_start: bool = False) -> Subscriber:
        """Create (cursor at the log's end, or its start) or update the subscriber named
        ``subscriber.name`` in its tenant; an update keeps the id and cursor."""
        ...

    def get_subscriber(self, subscriber_id: str) -> Subscriber | None: ...

    def list_subscribers(self, tenant_id: str | None = None, *, kind: str | None = None) -> list[Subscriber]:
        """Subscribers that see ``tenant_id``'s events (its own and all-tenant ones); all when None."""
        ...

    def delete_subscriber(self, subscriber_id: str) -> bool: ...

    # --- deliveries ---
    def materialize(self, subscriber_ids: Sequence[str], now: float, *, limit: int = 5000) -> int:
        """Turn events past each subscriber's cursor that match it into pending deliveries."""
        ...

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
        """Lease deliveries due by ``due_by`` (default ``now``) until ``now + lease_s``; ordered
        subscribers get only their oldest open one, others up to their concurrency in flight."""
        ...

    def finish(
        self,
        owner: str,
        updates: Sequence[DeliveryUpdate],
        attempts: Sequence[WebhookAttempt] = (),
    ) -> None:
        """Record outcomes (and the webhook attempt log) in one transaction; a delivery whose lease
        another worker has taken since is left to that worker."""
        ...

    def open_counts(self, subscriber_ids: Sequence[str], now: float) -> tuple[int, int]:
        """``(due now, pending in total)`` for the subscribers."""
        ...

    def list_deliveries(
        self,
        tenant_id: str,
        *,
        status: str | None = None,
        subscriber_id: str | None = None,
        event_id: str | None = None,
        limit: int = 50,
    ) -> list[EventDelivery]: ...

    def retry_dead(
        self, tenant_id: str, now: float, *, ids: Sequence[int] = (), subscriber_id: str | None = None
    ) -> int:
        """Move dead-lettered deliveries back to pending (all of the tenant's when ``ids`` is empty)."""
        ...

    def purge_dead(
        self,
        tenant_id: str,
        *,
        ids: Sequence[int] = (),
        subscriber_id: str | None = None,
        before: str | None = None,
    ) -> int: ...

    def requeue(
        self, tenant_id: str, subscriber_ids: Sequence[str], patterns: Sequence[str], since: str, now: float
    ) -> int:
        """Replay: owe every matching event since ``since`` again to each subscriber (that it matches)."""
        ...


class WebhookStore(Protocol):
    """Outgoing webhook subscriptions with their attempt log, and inbound endpoints."""

    def insert_subscription(self, subscription: WebhookSubscription, subscriber: Subscriber) -> None:
        """Insert the subscription and its event subscriber together.

        Fenced by the vault's key state like ``Store.put_credential`` (so are
        ``update_subscription_secrets`` and ``put_endpoint``): atomically with the write, a secret
        sealed with a master key a rotation retired is refused with ``AuthFailedError``
        (``details``: ``reason="master_key_retired"``, ``keyId``, ``currentKeyId``) and nothing is
        written; when no key is current yet, the secret's key becomes the current one.
        """
        ...

    def get_subscription(self, tenant_id: str, ref: str) -> WebhookSubscription | None:
        """By id or unique id prefix."""
        ...

    def subscriptions_by_id(self, ids: Sequence[str]) -> dict[str, WebhookSubscription]: ...

    def list_subscriptions(self, tenant_id: str | None) -> list[WebhookSubscription]: ...

    def delete_subscription(self, tenant_id: str, subscription_id: str) -> bool: ...

    def update_subscription_secrets(
        self, tenant_id: str, subscription_id: str, sealed: Sealed, secret_hash: str
    ) -> bool:
        """Replace the sealed secrets; fenced like ``insert_subscription``."""
        ...

    def set_subscription_active(
        self, tenant_id: str, subscription_id: str, active: bool, reason: str | None = None
    ) -> bool: ...

    def list_attempts(
        self, tenant_id: str, subscription_id: str, *, limit: int = 50, event_id: str | None = None
    ) -> list[WebhookAttempt]: ...

    def put_endpoint(self, endpoint: WebhookEndpoint) -> None:
        """Insert or replace the instance's endpoint; fenced like ``insert_subscription``."""
        ...

    def get_endpoint(self, instance_id: str) -> WebhookEndpoint | None:
        """Any tenant's: the receiver learns the tenant from the endpoint."""
        ...

    def delete_endpoint(self, tenant_id: str, instance_id: str) -> bool: ...

    def touch_endpoints(self, received: dict[str, int], at: str) -> None:
        """Count received deliveries per instance (inside the receiver's transaction)."""
        ...

    def iter_sealed(self) -> list[CredentialRecord]:
        """Every sealed webhook secret as a record ``Vault.rotate`` re-wraps (master key rotation)."""
        ...

    def replace_sealed(
        self, records: Sequence[CredentialRecord], *, expected: Mapping[tuple[str, str], bytes] | None = None
    ) -> list[CredentialRecord]:
        """Write re-wrapped sealed secrets back, joining an open transaction (the rotation's).

        ``expected`` makes it a compare-and-swap, as ``Store.replace_credentials``: ``(tenant,
        subject) -> wrapped_key`` as the rotation read them. When any sealed secret differs from it
        (written or added since), nothing is written and those secrets, as they are now, are
        returned; the caller re-wraps them and tries again. ``[]`` means written.
        """
        ...


class EventWebhookStore(EventStore, WebhookStore, Protocol):
    """Both ports on one connection, as every backend's event store implements them."""


class GatewayState(Protocol):
    """The gateway's shared state: breaker, rate limits, cache, metrics and audit.

    Every CLI call is its own process, so each method is one atomic step in the store (a single
    conditional statement or a ``BEGIN IMMEDIATE`` transaction). Times are epoch seconds.
    """

    def change_marker(self) -> object | None:
        """A value that stays equal while nothing in the store changed, whichever process or
        connection wrote; ``None`` when the store cannot tell cheaply (callers then re-read)."""
        ...

    def instance_view(self, tenant_id: str, instance_id: str) -> InstanceView | None:
        """One read of what every call checks: the instance's version, its credential's version,
        its breaker, the tenant's limits and the provider's latest ``blocked_until``."""
        ...

    # --- circuit breaker (per instance) ---
    def circuit_admit(
        self, tenant_id: str, instance_id: str, defaults: CircuitConfig, now: float, lease_s: float
    ) -> CircuitAdmission:
        """Let a call through, or not. Open -> half-open after the timeout; half-open hands out
        at most ``halfOpenMaxRequests`` probe leases at a time (a lease expires after ``lease_s``)."""
        ...

    def circuit_record(
        self,
        tenant_id: str,
        instance_id: str,
        config: CircuitConfig,
        *,
        failed: bool,
        probe_lease: str | None,
        now: float,
    ) -> CircuitSnapshot:
        """Record a call's outcome (5xx, 529, timeouts and connection errors are failures)."""
        ...

    def circuit_get(self, tenant_id: str, instance_id: str) -> CircuitSnapshot: ...

    def circuit_force(
        self,
        tenant_id: str,
        instance_id: str,
        *,
        open: bool,
        until: float | None,
        reason: str,
        now: float,
    ) -> CircuitSnapshot:
        """``forceOpen`` (until ``until``, or until closed when ``None``) or ``forceClose``."""
        ...

    def circuit_configure(
        self, tenant_id: str, instance_id: str, overrides: dict[str, int | None], now: float
    ) -> CircuitSnapshot:
        """Store per-instance overrides of the category defaults (``None`` clears one)."""
        ...

    # --- rate limits ---
    def rate_acquire(
        self,
        tenant_id: str,
        instance_id: str,
        instance_limits: dict[str, int],
        weight: int,
        now: float,
        lease_s: float,
        reserve: int = 0,
    ) -> RateDecision:
        """Take ``weight`` tokens from every tenant and instance bucket and a concurrency lease,
        all or nothing; refuse while a provider's ``blocked_until`` lies ahead.

        ``reserve`` asks for that many more tokens from every bucket (without concurrency
        limits only), taken only if all of them are there; ``RateDecision.reserved`` says how
        many were, and ``windows`` where to give unspent ones back."""
        ...

    def rate_give_back(self, tenant_id: str, windows: Sequence[tuple[str, int, float]], tokens: int) -> None:
        """Return ``tokens`` to each bucket in ``windows`` whose window has not moved on."""
        ...

    def rate_release(self, tenant_id: str, lease_ids: Sequence[str]) -> None: ...

    def rate_status(self, tenant_id: str, instance_id: str | None, now: float) -> dict[str, Any]: ...

    def rate_reset(self, tenant_id: str, instance_id: str) -> None:
        """Forget an instance's buckets, leases and provider blocks."""
        ...

    def tenant_limits(self, tenant_id: str) -> dict[str, int]: ...

    def set_tenant_limits(self, tenant_id: str, limits: dict[str, int], now_iso: str) -> dict[str, int]: ...

    def provider_block(self, tenant_id: str, instance_id: str, limit: ProviderLimit, now: float) -> None:
        """Store a provider's ``blocked_until`` now, so every other process honours it."""
        ...

    # --- response cache ---
    def cache_get(self, tenant_id: str, instance_id: str, key: str, now: float) -> str | None: ...

    def cache_put(
        self,
        tenant_id: str,
        instance_id: str,
        key: str,
        action: str,
        value: str,
        expires_at: float,
        now: float,
    ) -> None: ...

    # --- metrics, audit, usage ---
    def record_calls(self, records: Sequence[CallRecord]) -> None:
        """Metrics, audit rows, usage counters and provider figures of finished calls, in one
        transaction."""
        ...

    def metric_samples(self, tenant_id: str | None) -> list[tuple[str, dict[str, str], float]]:
        """Every stored counter and histogram sample, plus the gauges derived from the store."""
        ...

    def audit_rows(
        self,
        tenant_id: str,
        *,
        instance_id: str | None = None,
        action: str | None = None,
        status: str | None = None,
        since: float | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Newest first; ``since`` in epoch seconds."""
        ...
