"""Subscriptions to the event log: patterns, retry schedules, and the records the bus keeps.

Pure rules, no I/O. The event bus and the outgoing-webhook dispatcher share them:

* a **pattern** selects event types: ``*`` matches any run of characters (dots included), so
  ``github.*`` matches ``github.push`` and ``github.pull_request.opened``, and ``*`` matches all;
* a **retry policy** says how often a failing delivery is tried again and how long to wait before
  each retry (with jitter), before the delivery is dead-lettered;
* a **delivery** is one event owed to one subscriber: ``pending`` (due at ``next_attempt_at``; a
  lease is simply ``next_attempt_at`` pushed forward, so a crashed worker's delivery comes due
  again), ``done`` or ``dead`` (the dead-letter queue).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cuervo_fabric.domain.models import IntegrationEvent
from cuervo_fabric.errors import InvalidInputError

__all__ = [
    "ALL_TENANTS",
    "HANDLER_BACKOFF_MS",
    "SVIX_BACKOFF_MS",
    "WEBHOOK_POLICY",
    "AttemptOutcome",
    "DeliveryDecision",
    "EventDelivery",
    "RetryPolicy",
    "Sealed",
    "StoredEvent",
    "Subscriber",
    "WebhookAttempt",
    "WebhookEndpoint",
    "WebhookSubscription",
    "check_event_type",
    "check_pattern",
    "decide",
    "matches",
    "parse_duration",
]

#: ``Subscriber.tenant_id`` of a subscriber that receives every tenant's events.
ALL_TENANTS = "*"

#: The event bus's default retry delays (the seed's ``backoffMs``).
HANDLER_BACKOFF_MS: tuple[int, ...] = (1_000, 5_000, 30_000)

#: Outgoing webhooks retry like Svix: immediately, then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
SVIX_BACKOFF_MS: tuple[int, ...] = (
    5_000,
    300_000,
    1_800_000,
    7_200_000,
    18_000_000,
    36_000_000,
    36_000_000,
)

_TYPE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,199}$")
_PATTERN_RE = re.compile(r"^[A-Za-z0-9_.:*-]{1,200}$")


def check_event_type(event_type: str) -> str:
    """An event type is 1-200 letters, digits, ``_ . : -`` (``github.pull_request.opened``)."""
    if not _TYPE_RE.match(event_type or ""):
        raise InvalidInputError(
            f"invalid event type {event_type!r}: use letters, digits, '_', '.', ':' and '-' "
            "(e.g. github.pull_request.opened)",
            details={"field": "type"},
        )
    return event_type


def check_pattern(pattern: str) -> str:
    """A pattern is an event type where ``*`` matches any characters (``github.*``, ``*``)."""
    if not _PATTERN_RE.match(pattern or ""):
        raise InvalidInputError(
            f"invalid event pattern {pattern!r}: use an event type with '*' wildcards "
            "(e.g. 'github.*', 'jira.issue.created', '*')",
            details={"field": "pattern"},
        )
    return pattern


def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$")


def matches(patterns: str | tuple[str, ...] | list[str], event_type: str) -> bool:
    """Whether ``event_type`` matches the pattern (or any of the patterns)."""
    items = (patterns,) if isinstance(patterns, str) else patterns
    return any(_regex(p).match(event_type) for p in items)


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(text: str) -> float:
    """``"500ms"``, ``"5s"``, ``"5m"``, ``"2h"``, ``"7d"`` or bare seconds -> seconds."""
    m = _DURATION_RE.match(text or "")
    if not m:
        raise InvalidInputError(
            f"invalid duration {text!r}: use a number with ms, s, m, h or d (e.g. 5m)",
            details={"field": "duration"},
        )
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a failing delivery is retried: ``max_retries`` retries after the first attempt.

    ``backoff_ms[k]`` is the wait before retry ``k+1`` (the last entry repeats); each wait is
    spread by ``±jitter`` (0.2 = ±20 %) so that retries of many deliveries do not arrive together.
    """

    max_retries: int = 3
    backoff_ms: tuple[int, ...] = HANDLER_BACKOFF_MS
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.max_retries > 100:
            raise InvalidInputError("max retries must be between 0 and 100", details={"field": "maxRetries"})
        if any(ms < 0 for ms in self.backoff_ms):
            raise InvalidInputError("retry delays cannot be negative", details={"field": "backoffMs"})
        if not 0 <= self.jitter <= 1:
            raise InvalidInputError("jitter must be between 0 and 1", details={"field": "jitter"})

    def delay_s(self, retry: int, rand: float) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); ``rand`` is uniform in [0, 1)."""
        if not self.backoff_ms:
            return 0.0
        base = self.backoff_ms[min(retry, len(self.backoff_ms)) - 1] / 1000
        return max(0.0, base * (1 + self.jitter * (2 * rand - 1)))

    def to_dict(self) -> dict[str, Any]:
        return {"maxRetries": self.max_retries, "backoffMs": list(self.backoff_ms), "jitter": self.jitter}

    @classmethod
    def from_dict(cls, data: dict[str, Any], default: RetryPolicy | None = None) -> RetryPolicy:
        base = default or cls()
        return cls(
            max_retries=int(data.get("maxRetries", base.max_retries)),
            backoff_ms=tuple(int(x) for x in data.get("backoffMs", base.backoff_ms)),
            jitter=float(data.get("jitter", base.jitter)),
        )


#: Outgoing webhooks' default: the Svix schedule (8 attempts in about 27 hours).
WEBHOOK_POLICY = RetryPolicy(max_retries=len(SVIX_BACKOFF_MS), backoff_ms=SVIX_BACKOFF_MS)


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What one delivery attempt did."""

    success: bool
    status: int | None = None
    error: str | None = None
    #: The endpoint asked never to be called again (HTTP 410 Gone).
    gone: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryDecision:
    """What happens to a delivery after an attempt."""

    status: str  # done | pending | dead
    next_attempt_at: float
    disable_subscriber: bool = False


def decide(
    policy: RetryPolicy, attempts: int, outcome: AttemptOutcome, now: float, rand: float
) -> DeliveryDecision:
    """Decide after attempt number ``attempts`` (1-based): done, retry later, or dead-letter."""
    if outcome.success:
        return DeliveryDecision("done", now)
    if outcome.gone:
        return DeliveryDecision("dead", now, disable_subscriber=True)
    if attempts > policy.max_retries:
        return DeliveryDecision("dead", now)
    return DeliveryDecision("pending", now + policy.delay_s(attempts, rand))


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the log holds it: its position ``seq`` and the event."""

    seq: int
    event: IntegrationEvent
    target_subscriber: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, **self.event.to_dict()}


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A durable consumer of the log: an in-process handler or an outgoing webhook."""

    id: str
    name: str
    kind: str  # handler | webhook
    patterns: tuple[str, ...]
    tenant_id: str = ALL_TENANTS
    ordered: bool = False
    concurrency: int = 1
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    cursor_seq: int = 0
    active: bool = True
    created_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "patterns": list(self.patterns),
            "tenantId": None if self.tenant_id == ALL_TENANTS else self.tenant_id,
            "ordered": self.ordered,
            "concurrency": self.concurrency,
            "retryPolicy": self.policy.to_dict(),
            "cursorSeq": self.cursor_seq,
            "active": self.active,
            "createdAt": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class EventDelivery:
    """One event owed to one subscriber."""

    id: int
    subscriber_id: str
    tenant_id: str
    event_id: str
    event_seq: int
    event_type: str
    status: str  # pending | done | dead
    attempts: int
    next_attempt_at: float
    lease_owner: str | None = None
    last_error: str | None = None
    last_status: int | None = None
    created_at: str = ""
    updated_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subscriberId": self.subscriber_id,
            "tenantId": self.tenant_id,
            "eventId": self.event_id,
            "eventSeq": self.event_seq,
            "eventType": self.event_type,
            "status": self.status,
            "attempts": self.attempts,
            "nextAttemptAt": self.next_attempt_at,
            "lastError": self.last_error,
            "lastStatus": self.last_status,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class Sealed:
    """A secret sealed by the vault (ciphertext + wrapped data key); never clear text."""

    ciphertext: bytes
    wrapped_key: bytes
    key_id: str


@dataclass(frozen=True, slots=True)
class WebhookSubscription:
    """An outgoing webhook: where to POST which events, and how to retry (the seed's fields).

    The signing secrets and custom header values are sealed; only header names are in clear.
    """

    id: str
    tenant_id: str
    url: str
    events: tuple[str, ...]
    active: bool
    header_names: tuple[str, ...]
    policy: RetryPolicy
    timeout_ms: int
    created_by: str
    created_at: str
    sealed: Sealed
    secret_hash: str
    description: str = ""
    disabled_reason: str | None = None
    last_delivery_at: str | None = None
    total_deliveries: int = 0
    total_failures: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenantId": self.tenant_id,
            "url": self.url,
            "events": list(self.events),
            "active": self.active,
            "disabledReason": self.disabled_reason,
            "headers": sorted(self.header_names),
            "retryPolicy": self.policy.to_dict(),
            "timeoutMs": self.timeout_ms,
            "description": self.description,
            "createdBy": self.created_by,
            "createdAt": self.created_at,
            "lastDeliveryAt": self.last_delivery_at,
            "totalDeliveries": self.total_deliveries,
            "totalFailures": self.total_failures,
        }


@dataclass(frozen=True, slots=True)
class WebhookAttempt:
    """One HTTP attempt to deliver an event to an outgoing webhook (the seed's WebhookDelivery)."""

    id: str
    subscription_id: str
    tenant_id: str
    event_id: str
    event_type: str
    url: str
    attempt: int
    success: bool
    delivered_at: str
    duration_ms: int
    response_status: int | None = None
    response_body: str | None = None
    error: str | None = None
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: str = ""
    delivery_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subscriptionId": self.subscription_id,
            "deliveryId": self.delivery_id,
            "eventId": self.event_id,
            "eventType": self.event_type,
            "url": self.url,
            "attempt": self.attempt,
            "success": self.success,
            "responseStatus": self.response_status,
            "responseBody": self.response_body,
            "durationMs": self.duration_ms,
            "error": self.error,
            "requestHeaders": self.request_headers,
            "requestBody": self.request_body,
            "deliveredAt": self.delivered_at,
        }


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """Where a provider posts an instance's webhooks; the secret and URL token are sealed."""

    instance_id: str
    tenant_id: str
    connector_id: str
    token_hash: str
    sealed: Sealed
    secret_source: str  # generated | provided
    created_at: str
    updated_at: str
    last_received_at: str | None = None
    total_received: int = 0
