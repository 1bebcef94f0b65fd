"""Webhook use cases: inbound endpoints and the receiver's verify-then-store, outgoing subscriptions.

Secrets (the inbound signing secret and URL token, the outgoing ``whsec_`` secrets and custom header
values) are sealed by the vault, bound to the tenant and to the endpoint or subscription; the store
only ever holds ciphertext and SHA-256 fingerprints.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from cuervo_fabric.domain.models import ConnectorInstance, InstanceStatus, IntegrationEvent
from cuervo_fabric.domain.subscriptions import (
    WEBHOOK_POLICY,
    AttemptOutcome,
    RetryPolicy,
    Sealed,
    Subscriber,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookSubscription,
    check_event_type,
    check_pattern,
)
from cuervo_fabric.domain.timeutil import iso
from cuervo_fabric.errors import (
    AuthFailedError,
    FabricError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
)
from cuervo_fabric.ports import ConnectorRegistry, CredentialRecord, EventStore, Store, Vault, WebhookStore
from cuervo_fabric.services._fence import write_fenced

__all__ = [
    "InboundRequest",
    "InboundResult",
    "WebhookInbox",
    "WebhookService",
    "fingerprint",
]

_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
_RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection", "user-agent"}
)
MAX_DELIVERY_ID = 200
DEFAULT_WEBHOOK_CONCURRENCY = 256
TEST_EVENT_TYPE = "webhook.test"


def fingerprint(secret: str) -> str:
    """SHA-256 hex of a secret: what the store keeps to recognise it without holding it."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _subject(kind: str, ident: str) -> str:
    # The vault binds ciphertext to (tenant, subject): a row copied elsewhere does not open.
    return f"{kind}:{ident}"


def _seal(vault: Vault, tenant: str, subject: str, payload: dict[str, Any]) -> Sealed:
    ciphertext, wrapped, key_id = vault.seal(tenant, subject, payload)
    return Sealed(ciphertext, wrapped, key_id)


_T = TypeVar("_T")


def _write_sealed(
    vault: Vault, tenant: str, subject: str, payload: dict[str, Any], write: Callable[[Sealed], _T]
) -> _T:
    """Seal ``payload`` and ``write`` it, fenced by the vault's key state (``services._fence``)."""
    return write_fenced(
        vault, lambda: _seal(vault, tenant, subject, payload), write, "webhook secret", "try again"
    )


def _open(vault: Vault, tenant: str, subject: str, sealed: Sealed) -> dict[str, Any]:
    return vault.open(
        CredentialRecord(
            instance_id=subject,
            tenant_id=tenant,
            credential_type="none",
            encrypted_data=sealed.ciphertext,
            wrapped_key=sealed.wrapped_key,
            encryption_key_id=sealed.key_id,
        )
    )


def _webhook_spec(registry: ConnectorRegistry, connector_id: str) -> Any:
    """The connector's ``WebhookSpec``; ``INVALID_STATE`` when it declares none (fail closed)."""
    spec = registry.get(connector_id)
    cls = registry.load(connector_id)
    declared = getattr(cls, "webhook", None)
    if not spec.receives_webhooks:
        raise InvalidStateError(f"connector {connector_id!r} does not receive webhooks")
    if declared is None or getattr(declared, "verifier", None) is None:
        raise InvalidStateError(
            f"connector {connector_id!r} receives webhooks but declares no verifier; refusing "
            "to accept unverified deliveries"
        )
    return declared


# ====================================================================== the receiver


class InboundRequest(Protocol):
    """A webhook request as the receiver hands it over (``sdk.IncomingWebhook``)."""

    @property
    def instance_id(self) -> str: ...

    @property
    def received_at(self) -> float: ...


@dataclass(frozen=True, slots=True)
class InboundResult:
    """The seed's WebhookProcessResult, with the HTTP status to answer."""

    status: int
    accepted: bool
    event_id: str | None = None
    event_type: str | None = None
    duplicate: bool = False
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "accepted": self.accepted,
            "eventId": self.event_id,
            "eventType": self.event_type,
            "error": self.error,
        }
        if self.duplicate:
            out["duplicate"] = True
        return out


def _reject(status: int, message: str) -> InboundResult:
    return InboundResult(status, False, error=message)


@dataclass(frozen=True, slots=True)
class _Route:
    endpoint: WebhookEndpoint
    instance: ConnectorInstance
    spec: Any
    secret: str


class WebhookInbox:
    """Verifies webhook requests and stores the accepted ones as events, a batch per transaction."""

    def __init__(
        self,
        events: EventStore,
        hooks: WebhookStore,
        instances: Store,
        registry: ConnectorRegistry,
        vault: Vault,
        *,
        clock: Callable[[], float] = time.time,
        cache_ttl_s: float = 2.0,
        close: Callable[[], None] | None = None,
    ) -> None:
        self.events = events
        self.hooks = hooks
        self.instances = instances
        self.registry = registry
        self.vault = vault
        self.clock = clock
        self.cache_ttl_s = cache_ttl_s
        self._close = close
        self._routes: dict[str, tuple[float, _Route | InboundResult]] = {}

    def close(self) -> None:
        if self._close is not None:
            self._close()

    def unavailable(self, message: str) -> InboundResult:
        return _reject(503, message)

    def _route(self, instance_id: str) -> _Route | InboundResult:
        now = time.monotonic()
        hit = self._routes.get(instance_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        route = self._load_route(instance_id)
        if len(self._routes) > 10_000:
            self._routes.clear()
        self._routes[instance_id] = (now + self.cache_ttl_s, route)
        return route

    def _load_route(self, instance_id: str) -> _Route | InboundResult:
        unknown = _reject(404, "unknown webhook endpoint")
        endpoint = self.hooks.get_endpoint(instance_id)
        if endpoint is None:
            return unknown
        instance = self.instances.get_instance(endpoint.tenant_id, instance_id)
        if instance is None or instance.status in (InstanceStatus.UNINSTALLING, InstanceStatus.UNINSTALLED):
            return unknown
        try:
            spec = _webhook_spec(self.registry, instance.connector_id)
        except NotFoundError:
            return unknown
        except InvalidStateError as exc:
            return _reject(403, exc.message)
        try:
            secret = str(
                _open(
                    self.vault, endpoint.tenant_id, _subject("webhook-endpoint", instance_id), endpoint.sealed
                )["secret"]
            )
        except FabricError:
            return _reject(503, "the endpoint's secret cannot be opened (vault key missing?)")
        return _Route(endpoint, instance, spec, secret)

    def _prepare(self, request: Any, token: str, eid: str) -> IntegrationEvent | InboundResult:
        route = self._route(request.instance_id)
        if isinstance(route, InboundResult):
            return route
        if not hmac.compare_digest(fingerprint(token), route.endpoint.token_hash):
            return _reject(404, "unknown webhook endpoint")
        try:
            route.spec.verifier.verify(route.secret, request, now=self.clock())
        except AuthFailedError as exc:
            return _reject(401, exc.message)
        except InvalidInputError as exc:
            return _reject(400, exc.message)
        try:
            event_type = check_event_type(str(route.spec.event_type(request)))
            raw_id = route.spec.delivery_id(request)
            data = route.spec.data(request)
        except InvalidInputError as exc:
            return _reject(400, exc.message)
        except Exception as exc:  # noqa: BLE001 - a connector's mapper choking on a payload is a 400
            return _reject(
                400, f"the {route.instance.connector_id} connector cannot read this delivery: {exc}"
            )
        delivery_id = None if raw_id is None or raw_id == "" else str(raw_id)
        if delivery_id is not None and len(delivery_id) > MAX_DELIVERY_ID:
            return _reject(400, "the delivery id is too long")
        if not isinstance(data, dict):
            return _reject(400, "the delivery's payload is not a JSON object")
        return IntegrationEvent(
            id=eid,
            type=event_type,
            source=route.instance.id,
            tenant_id=route.instance.tenant_id,
            timestamp=iso(request.received_at),
            data=data,
            correlation_id=delivery_id or eid,
            connector_id=route.instance.connector_id,
            connector_version=route.instance.version,
            original_webhook_id=delivery_id,
        )

    def receive_batch(self, items: Sequence[tuple[Any, str]]) -> list[InboundResult]:
        """Verify each ``(request, url_token)`` and store the accepted ones in one transaction.

        Nothing is written for a rejected request; an accepted one is committed before this
        returns, so the caller may answer 2xx. A delivery id seen before yields the original event.
        """
        results: list[InboundResult | None] = [None] * len(items)
        accepted: list[tuple[int, IntegrationEvent]] = []
        # Random 128-bit event ids, from one getrandom() call for the whole batch.
        ids = os.urandom(16 * len(items)).hex()
        for i, (request, token) in enumerate(items):
            prepared = self._prepare(request, token, ids[32 * i : 32 * (i + 1)])
            if isinstance(prepared, InboundResult):
                results[i] = prepared
            else:
                accepted.append((i, prepared))
        if accepted:
            with self.events.transaction():
                appended = self.events.append_events([ev for _, ev in accepted])
                fresh = Counter(
                    ev.source for (_, ev), a in zip(accepted, appended, strict=True) if not a.duplicate
                )
                self.hooks.touch_endpoints(dict(fresh), iso(self.clock()))
            for (i, ev), a in zip(accepted, appended, strict=True):
                results[i] = InboundResult(
                    200 if a.duplicate else 202, True, a.event_id, ev.type, duplicate=a.duplicate
                )
        return [r for r in results if r is not None]


# ====================================================================== management


def _new_whsec() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class WebhookService:
    """``webhooks endpoints|create|list|delete|deliveries|test|rotate-secret``."""

    def __init__(
        self,
        events: EventStore,
        hooks: WebhookStore,
        registry: ConnectorRegistry,
        vault: Vault,
        *,
        user: str = "local",
        check_target: Callable[[str], Any] = lambda url: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.events = events
        self.hooks = hooks
        self.registry = registry
        self.vault = vault
        self.user = user
        self.check_target = check_target
        self.clock = clock

    # ------------------------------------------------------------------ inbound endpoints
    def endpoint(
        self,
        instance: ConnectorInstance,
        *,
        base_url: str,
        new_token: bool = False,
        new_secret: bool = False,
        provided_secret: str | None = None,
    ) -> dict[str, Any]:
        """Register (or show) the instance's endpoint: the URL and secret to give the provider.

        A provider that issues its own signing secret (Slack, Linear) gets it via
        ``provided_secret``; otherwise a random secret is generated in the scheme's format.
        """
        if instance.status in (InstanceStatus.UNINSTALLING, InstanceStatus.UNINSTALLED):
            raise InvalidStateError(f"instance {instance.name!r} is uninstalled")
        spec = _webhook_spec(self.registry, instance.connector_id)
        subject = _subject("webhook-endpoint", instance.id)
        existing = self.hooks.get_endpoint(instance.id)
        opened = _open(self.vault, instance.tenant_id, subject, existing.sealed) if existing else {}
        changed = existing is None or new_token or new_secret or provided_secret is not None
        token = str(opened.get("token") or "") if not new_token else ""
        token = token or secrets.token_urlsafe(24)
        if provided_secret is not None:
            if not provided_secret.strip():
                raise InvalidInputError("the provided secret is empty", details={"field": "secret"})
            secret, source = provided_secret.strip(), "provided"
        elif existing is not None and not new_secret:
            secret, source = str(opened["secret"]), existing.secret_source
        else:
            secret, source = spec.verifier.generate_secret(), "generated"
        now = iso(self.clock())
        if changed:
            _write_sealed(
                self.vault,
                instance.tenant_id,
                subject,
                {"secret": secret, "token": token},
                lambda sealed: self.hooks.put_endpoint(
                    WebhookEndpoint(
                        instance_id=instance.id,
                        tenant_id=instance.tenant_id,
                        connector_id=instance.connector_id,
                        token_hash=fingerprint(token),
                        sealed=sealed,
                        secret_source=source,
                        created_at=existing.created_at if existing else now,
                        updated_at=now,
                    )
                ),
            )
        current = self.hooks.get_endpoint(instance.id)
        assert current is not None
        return {
            "instanceId": instance.id,
            "instance": instance.name,
            "connectorId": instance.connector_id,
            "url": f"{base_url.rstrip('/')}/webhooks/{instance.id}/{token}",
            "secret": secret,
            "secretSource": source,
            "scheme": spec.verifier.scheme,
            "events": list(spec.events),
            "created": existing is None,
            "changed": changed,
            "createdAt": current.created_at,
            "lastReceivedAt": current.last_received_at,
            "totalReceived": current.total_received,
        }

    def remove_endpoint(self, instance: ConnectorInstance) -> bool:
        """Deregister: the URL stops working at once."""
        return self.hooks.delete_endpoint(instance.tenant_id, instance.id)

    # ------------------------------------------------------------------ outgoing subscriptions
    def create(
        self,
        tenant: str,
        url: str,
        events: Sequence[str],
        *,
        headers: Mapping[str, str] | None = None,
        max_retries: int | None = None,
        backoff_ms: Sequence[int] | None = None,
        timeout_ms: int = 15_000,
        description: str = "",
    ) -> tuple[WebhookSubscription, str]:
        """Create a subscription; returns it and its ``whsec_`` secret (shown once)."""
        if not events:
            raise InvalidInputError("give at least one --events PATTERN", details={"field": "events"})
        patterns = tuple(dict.fromkeys(check_pattern(p) for p in events))
        self.check_target(url)
        custom = dict(headers or {})
        for name in custom:
            if (
                not _HEADER_NAME.match(name)
                or name.lower() in _RESERVED_HEADERS
                or name.lower().startswith("webhook-")
            ):
                raise InvalidInputError(
                    f"header {name!r} cannot be set on a webhook", details={"field": "header"}
                )
        if not 100 <= timeout_ms <= 120_000:
            raise InvalidInputError("--timeout must be between 0.1 s and 120 s", details={"field": "timeout"})
        delays = tuple(backoff_ms) if backoff_ms is not None else WEBHOOK_POLICY.backoff_ms
        retries = (
            max_retries
            if max_retries is not None
            else (len(delays) if backoff_ms is not None else WEBHOOK_POLICY.max_retries)
        )
        policy = RetryPolicy(max_retries=retries, backoff_ms=delays, jitter=WEBHOOK_POLICY.jitter)
        sid = uuid.uuid4().hex
        secret = _new_whsec()
        created_at = iso(self.clock())
        subscriber = Subscriber(
            id=sid,
            name=f"webhook:{sid}",
            kind="webhook",
            patterns=patterns,
            tenant_id=tenant,
            concurrency=DEFAULT_WEBHOOK_CONCURRENCY,
            policy=policy,
        )

        def insert(sealed: Sealed) -> WebhookSubscription:
            sub = WebhookSubscription(
                id=sid,
                tenant_id=tenant,
                url=url,
                events=patterns,
                active=True,
                header_names=tuple(custom),
                policy=policy,
                timeout_ms=timeout_ms,
                created_by=self.user,
                created_at=created_at,
                sealed=sealed,
                secret_hash=fingerprint(secret),
                description=description,
            )
            self.hooks.insert_subscription(sub, subscriber)
            return sub

        sub = _write_sealed(
            self.vault,
            tenant,
            _subject("webhook-subscription", sid),
            {"secrets": [{"secret": secret, "expiresAt": None}], "headers": custom},
            insert,
        )
        return sub, secret

    def get(self, tenant: str, ref: str) -> WebhookSubscription:
        found = self.hooks.get_subscription(tenant, ref)
        if found is None:
            raise NotFoundError(
                f"no webhook {ref!r} in tenant {tenant!r} (see: cuervo-fabric webhooks list)",
                details={"webhook": ref},
            )
        return found

    def subscriptions(self, tenant: str) -> list[WebhookSubscription]:
        return self.hooks.list_subscriptions(tenant)

    def delete(self, tenant: str, ref: str) -> WebhookSubscription:
        sub = self.get(tenant, ref)
        self.hooks.delete_subscription(tenant, sub.id)
        return sub

    def set_active(self, tenant: str, ref: str, active: bool) -> WebhookSubscription:
        sub = self.get(tenant, ref)
        self.hooks.set_subscription_active(tenant, sub.id, active, None if active else "disabled by a user")
        return self.get(tenant, sub.id)

    def deliveries(
        self, tenant: str, ref: str, *, limit: int = 50, event_id: str | None = None
    ) -> tuple[WebhookSubscription, list[WebhookAttempt]]:
        sub = self.get(tenant, ref)
        return sub, self.hooks.list_attempts(tenant, sub.id, limit=limit, event_id=event_id)

    def open_secrets(self, sub: WebhookSubscription) -> tuple[list[str], dict[str, str]]:
        """The secrets that sign now (newest first; a rotated-out one until its grace ends) and the
        custom headers."""
        data = _open(self.vault, sub.tenant_id, _subject("webhook-subscription", sub.id), sub.sealed)
        now = self.clock()
        live = [
            s["secret"] for s in data.get("secrets", []) if s.get("expiresAt") is None or s["expiresAt"] > now
        ]
        return live, dict(data.get("headers") or {})

    def rotate_secret(
        self, tenant: str, ref: str, *, grace_s: float = 86_400.0
    ) -> tuple[WebhookSubscription, str]:
        """A new secret; the old one keeps signing too (two signatures) for ``grace_s`` seconds."""
        if grace_s < 0:
            raise InvalidInputError("the grace period cannot be negative", details={"field": "grace"})
        sub = self.get(tenant, ref)
        subject = _subject("webhook-subscription", sub.id)
        data = _open(self.vault, tenant, subject, sub.sealed)
        now = self.clock()
        secret = _new_whsec()
        kept = [
            {
                "secret": s["secret"],
                "expiresAt": now + grace_s if s.get("expiresAt") is None else s["expiresAt"],
            }
            for s in data.get("secrets", [])
            if s.get("expiresAt") is None or s["expiresAt"] > now
        ]
        if grace_s == 0:
            kept = []
        payload = {
            "secrets": [{"secret": secret, "expiresAt": None}, *kept],
            "headers": data.get("headers") or {},
        }
        hashed = fingerprint(secret)
        _write_sealed(
            self.vault,
            tenant,
            subject,
            payload,
            lambda sealed: self.hooks.update_subscription_secrets(tenant, sub.id, sealed, hashed),
        )
        return self.get(tenant, sub.id), secret

    def test(
        self,
        tenant: str,
        ref: str,
        send: Callable[[WebhookSubscription, IntegrationEvent], tuple[AttemptOutcome, WebhookAttempt]],
    ) -> tuple[AttemptOutcome, WebhookAttempt]:
        """POST one signed ``webhook.test`` event now (no retries) and log the attempt."""
        sub = self.get(tenant, ref)
        eid = uuid.uuid4().hex
        event = IntegrationEvent(
            id=eid,
            type=TEST_EVENT_TYPE,
            source="cuervo-fabric",
            tenant_id=tenant,
            timestamp=iso(self.clock()),
            data={"message": "a test delivery from cuervo-fabric", "webhookId": sub.id},
            correlation_id=eid,
            connector_id="cuervo-fabric",
        )
        outcome, attempt = send(sub, event)
        self.events.finish("webhooks-test", [], [attempt])
        return outcome, attempt
