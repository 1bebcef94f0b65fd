"""Value objects of the gateway's shared state: circuit breaker, rate limits, provider limits, calls.

Pure data and arithmetic (no I/O): the ``GatewayState`` port moves these in and out of the store,
and the gateway stages decide with them. They are ``NamedTuple``s rather than dataclasses because
every ``exec`` process builds these classes at start-up, and a named tuple class costs a fraction
of a frozen dataclass to create.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from cuervo_fabric.domain.models import ConnectorCategory
from cuervo_fabric.errors import InvalidInputError

__all__ = [
    "CIRCUIT_BREAKER_DEFAULTS",
    "CIRCUIT_STATE_VALUES",
    "DURATION_BUCKETS_MS",
    "WINDOWS",
    "BucketStatus",
    "CallRecord",
    "CircuitAdmission",
    "CircuitConfig",
    "CircuitSnapshot",
    "InstanceView",
    "ProviderLimit",
    "RateDecision",
    "circuit_defaults",
]


class CircuitConfig(NamedTuple):
    """The seed's CircuitBreakerConfig.

    ``half_open_max_requests`` bounds *concurrent* probes: each probe holds a lease that expires, so
    probes run one after another until ``success_threshold`` of them succeeded. That is why
    ``success_threshold`` may exceed ``half_open_max_requests`` (the seed's model_provider defaults,
    1 probe and 2 successes, would never close if probes were a total budget).
    """

    failure_threshold: int
    success_threshold: int
    timeout_ms: int
    half_open_max_requests: int

    def validate(self) -> CircuitConfig:
        checks = {
            "failureThreshold": (self.failure_threshold, 1, 10_000),
            "successThreshold": (self.success_threshold, 1, 10_000),
            "timeout": (self.timeout_ms, 1, 86_400_000),
            "halfOpenMaxRequests": (self.half_open_max_requests, 1, 10_000),
        }
        for name, (value, low, high) in checks.items():
            if not low <= value <= high:
                raise InvalidInputError(
                    f"circuit breaker {name} must be between {low} and {high}, not {value}",
                    details={"field": name},
                )
        # Probes are sequential leases, so any successThreshold can be reached; but more than
        # one round of probes per half-open slot is almost surely a typo.
        if self.success_threshold > 100 * self.half_open_max_requests:
            raise InvalidInputError(
                f"successThreshold {self.success_threshold} needs more than 100 rounds of "
                f"{self.half_open_max_requests} concurrent probe(s); lower it or raise halfOpenMaxRequests",
                details={"field": "successThreshold"},
            )
        return self

    def with_overrides(self, overrides: Mapping[str, int | None]) -> CircuitConfig:
        given = {k: v for k, v in overrides.items() if v is not None}
        return self._replace(**given) if given else self

    def to_dict(self) -> dict[str, int]:
        return {
            "failureThreshold": self.failure_threshold,
            "successThreshold": self.success_threshold,
            "timeout": self.timeout_ms,
            "halfOpenMaxRequests": self.half_open_max_requests,
        }


#: The seed's CIRCUIT_BREAKER_DEFAULTS, completed for every category (timeout in ms).
CIRCUIT_BREAKER_DEFAULTS: dict[ConnectorCategory, CircuitConfig] = {
    ConnectorCategory.SOURCE_CONTROL: CircuitConfig(5, 3, 30_000, 3),
    ConnectorCategory.MODEL_PROVIDER: CircuitConfig(3, 2, 15_000, 1),
    ConnectorCategory.COMMUNICATION: CircuitConfig(10, 3, 60_000, 5),
    ConnectorCategory.PROJECT_MANAGEMENT: CircuitConfig(5, 3, 30_000, 3),
    ConnectorCategory.CI_CD: CircuitConfig(5, 2, 30_000, 2),
    ConnectorCategory.CLOUD_PROVIDER: CircuitConfig(5, 3, 30_000, 3),
    ConnectorCategory.DATABASE: CircuitConfig(3, 2, 10_000, 1),
    ConnectorCategory.MONITORING: CircuitConfig(10, 3, 30_000, 3),
    ConnectorCategory.SECURITY: CircuitConfig(5, 3, 30_000, 2),
    ConnectorCategory.CUSTOM: CircuitConfig(5, 2, 30_000, 2),
}


def circuit_defaults(category: str) -> CircuitConfig:
    """The breaker defaults of a connector category (``custom`` for one we do not know)."""
    found = _DEFAULTS_BY_NAME.get(str(category))
    return found if found is not None else CIRCUIT_BREAKER_DEFAULTS[ConnectorCategory.CUSTOM]


_DEFAULTS_BY_NAME = {str(c.value): config for c, config in CIRCUIT_BREAKER_DEFAULTS.items()}


#: Upper bounds of the ``connector_request_duration_ms`` histogram buckets (``+Inf`` is implied).
DURATION_BUCKETS_MS: tuple[float, ...] = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)

#: ``connector_circuit_state`` gauge values.
CIRCUIT_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}


class CircuitSnapshot(NamedTuple):
    """The seed's CircuitState of one instance (times are epoch seconds)."""

    state: str = "closed"
    failure_count: int = 0
    success_count: int = 0
    last_failure_at: float | None = None
    last_success_at: float | None = None
    opened_at: float | None = None
    next_retry_at: float | None = None
    reason: str | None = None
    forced: bool = False
    probes_in_flight: int = 0
    #: Per-instance overrides of the category defaults (``None``: the default).
    overrides: Mapping[str, int | None] = MappingProxyType({})


class CircuitAdmission(NamedTuple):
    """What the breaker decided for one call."""

    allowed: bool
    snapshot: CircuitSnapshot
    config: CircuitConfig
    #: Set when the call is a half-open probe; hand it back to ``circuit_record``.
    probe_lease: str | None = None
    retry_after_ms: int | None = None


#: Local token-bucket windows: name -> seconds.
WINDOWS = {"minute": 60, "hour": 3600}


class BucketStatus(NamedTuple):
    """One local limit as seen by one call (``--explain``, ``ratelimit status``)."""

    scope: str  # tenant | connector
    window: str  # minute | hour | concurrent
    capacity: int
    remaining: int
    reset_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        from cuervo_fabric.domain.timeutil import iso

        return {
            "scope": self.scope,
            "window": self.window,
            "capacity": self.capacity,
            "remaining": self.remaining,
            "resetAt": iso(self.reset_at) if self.reset_at else None,
        }


class RateDecision(NamedTuple):
    """The seed's RateLimitResult, plus the leases a call must give back."""

    allowed: bool
    buckets: tuple[BucketStatus, ...] = ()
    limit_type: str | None = None  # tenant | connector | external
    retry_after_ms: int | None = None
    reason: str = ""
    lease_ids: tuple[str, ...] = ()
    #: Tokens taken from every bucket beyond ``weight``, to spend later in this process.
    reserved: int = 0
    #: ``(instance key, period_s, window_start)`` of each bucket taken from (to give tokens back).
    windows: tuple[tuple[str, int, float], ...] = ()


class InstanceView(NamedTuple):
    """What the pipeline needs to know about an instance's shared state, read in one statement.

    A long-running process keeps it while the store reports no change (``change_marker``), so
    a call in the common case (breaker closed, no provider block, tokens in hand, credential
    unchanged) reads nothing at all.
    """

    status: str
    updated_at: str
    #: Changes whenever the credential is written or re-wrapped (``None``: none stored).
    credential_version: bytes | None
    #: ``None``: the breaker has no row yet (closed, no failures).
    circuit: CircuitSnapshot | None
    #: ``requestsPerMinute``, ``requestsPerHour``, ``concurrentRequests`` of the tenant (0: none).
    tenant_limits: Mapping[str, int]
    #: The latest ``blocked_until`` a provider set for the instance (may lie in the past).
    blocked_until: float | None


class ProviderLimit(NamedTuple):
    """What a provider said about its own limits on one response (epoch seconds)."""

    source: str  # github | jira | openai | anthropic | ietf | retry-after | generic
    resource: str = "default"
    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None
    #: No call may go out before this instant (honoured by every process).
    blocked_until: float | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        from cuervo_fabric.domain.timeutil import iso

        return {
            "source": self.source,
            "resource": self.resource,
            "limit": self.limit,
            "remaining": self.remaining,
            "resetAt": iso(self.reset_at) if self.reset_at else None,
            "blockedUntil": iso(self.blocked_until) if self.blocked_until else None,
            "reason": self.reason,
        }


class CallRecord(NamedTuple):
    """One finished call, for metrics, the audit log and usage counters. Never a secret or body."""

    tenant_id: str
    instance_id: str
    instance_name: str
    connector_id: str
    user_id: str
    action: str
    status: str  # success | error | refused
    error_code: str | None
    duration_ms: float
    attempts: int
    api_calls: int
    cached: bool
    trace_id: str
    at: float
    rate_limit_remaining: int | None = None
    rate_limit_limit: int | None = None
    rate_limit_reset_at: str | None = None
    #: Provider figures seen on the call's responses (stored for ``ratelimit status``).
    provider_limits: tuple[ProviderLimit, ...] = ()
