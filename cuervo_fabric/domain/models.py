"""Entities and value objects of the Integration Fabric (the seed's TypeScript types, in Python)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

__all__ = [
    "AUTH_TYPES",
    "Capability",
    "ConnectorAction",
    "ConnectorCategory",
    "ConnectorInstance",
    "ConnectorMetadata",
    "ConnectorResult",
    "ConnectorSpec",
    "Features",
    "HealthCheckResult",
    "InstanceStatus",
    "IntegrationEvent",
    "Permission",
    "RateLimits",
    "ResultMetadata",
]


class ConnectorCategory(enum.StrEnum):
    """What kind of service a connector reaches; sets breaker and rate-limit defaults."""

    SOURCE_CONTROL = "source_control"
    PROJECT_MANAGEMENT = "project_management"
    COMMUNICATION = "communication"
    CI_CD = "ci_cd"
    CLOUD_PROVIDER = "cloud_provider"
    MODEL_PROVIDER = "model_provider"
    DATABASE = "database"
    MONITORING = "monitoring"
    SECURITY = "security"
    CUSTOM = "custom"


class InstanceStatus(enum.StrEnum):
    """The lifecycle states of an installed connector instance."""

    INSTALLED = "installed"
    AUTHENTICATING = "authenticating"
    ACTIVE = "active"
    PAUSED = "paused"
    ERROR = "error"
    DEGRADED = "degraded"
    UNINSTALLING = "uninstalling"
    UNINSTALLED = "uninstalled"


#: The seed's ConnectorAuthConfig types.
AUTH_TYPES = ("oauth2", "api_key", "bearer_token", "basic_auth", "mtls", "service_account", "none")


@dataclass(frozen=True, slots=True)
class Capability:
    """One action a connector offers (``repo.list``), and the provider scopes it needs."""

    id: str
    name: str
    description: str = ""
    required_scopes: tuple[str, ...] = ()
    #: Token-bucket weight of one call (most 1, search 5, bulk 10).
    weight: int = 1
    #: Seconds a successful read may be served from cache (0: never cached).
    cache_ttl: int = 0
    #: Whether the action changes provider state (POST-like: retried only with an idempotency key).
    mutating: bool = False
    #: JSON Schema of the action's parameters.
    params_schema: dict[str, Any] | None = None
    streaming: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "requiredScopes": list(self.required_scopes),
            "weight": self.weight,
            "cacheTtl": self.cache_ttl,
            "mutating": self.mutating,
            "paramsSchema": self.params_schema,
            "streaming": self.streaming,
        }


@dataclass(frozen=True, slots=True)
class Permission:
    """A cuervo-side permission scope a connector asks for, and why."""

    scope: str
    description: str
    required: bool = True
    justification: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "description": self.description,
            "required": self.required,
            "justification": self.justification,
        }


@dataclass(frozen=True, slots=True)
class ConnectorMetadata:
    """Human-facing facts about a connector."""

    name: str
    description: str
    category: ConnectorCategory
    vendor: str
    icon: str = ""
    documentation_url: str = ""
    support_url: str = ""
    privacy_policy_url: str = ""
    tags: tuple[str, ...] = ()
    min_platform_version: str = "0.1.0"
    target_api_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "category": str(self.category),
            "vendor": self.vendor,
            "icon": self.icon,
            "documentationUrl": self.documentation_url,
            "supportUrl": self.support_url,
            "privacyPolicyUrl": self.privacy_policy_url,
            "tags": list(self.tags),
            "minPlatformVersion": self.min_platform_version,
            "targetApiVersion": self.target_api_version,
        }


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Local token-bucket limits of one instance (0 means unlimited)."""

    requests_per_minute: int = 0
    requests_per_hour: int = 0
    concurrent_requests: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "requestsPerMinute": self.requests_per_minute,
            "requestsPerHour": self.requests_per_hour,
            "concurrentRequests": self.concurrent_requests,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RateLimits:
        return cls(
            requests_per_minute=int(data.get("requestsPerMinute", 0)),
            requests_per_hour=int(data.get("requestsPerHour", 0)),
            concurrent_requests=int(data.get("concurrentRequests", 0)),
        )


@dataclass(frozen=True, slots=True)
class Features:
    """Per-instance feature flags."""

    sync_enabled: bool = False
    webhooks_enabled: bool = False
    streaming_enabled: bool = False

    def to_dict(self) -> dict[str, bool]:
        return {
            "syncEnabled": self.sync_enabled,
            "webhooksEnabled": self.webhooks_enabled,
            "streamingEnabled": self.streaming_enabled,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Features:
        return cls(
            sync_enabled=bool(data.get("syncEnabled", False)),
            webhooks_enabled=bool(data.get("webhooksEnabled", False)),
            streaming_enabled=bool(data.get("streamingEnabled", False)),
        )


@dataclass(frozen=True, slots=True)
class ConnectorSpec:
    """Everything a connector declares about itself: the registry's row.

    ``auth_types`` lists the ConnectorAuthConfig types it supports; ``auth_type_setting`` names the
    setting that chooses among them (the generic ``http`` connector), else the first is used.
    """

    id: str
    version: str
    metadata: ConnectorMetadata
    capabilities: tuple[Capability, ...]
    required_permissions: tuple[Permission, ...]
    config_schema: dict[str, Any]
    auth_types: tuple[str, ...] = ("none",)
    auth_type_setting: str | None = None
    default_rate_limits: RateLimits = RateLimits()
    first_party: bool = False
    #: Other versions this connector can be upgraded to or from (``connector upgrade``).
    versions: tuple[str, ...] = ()
    receives_webhooks: bool = False

    def capability(self, action: str) -> Capability | None:
        for cap in self.capabilities:
            if cap.id == action:
                return cap
        return None

    def auth_type_for(self, settings: dict[str, Any]) -> str:
        if self.auth_type_setting and settings.get(self.auth_type_setting):
            return str(settings[self.auth_type_setting])
        return self.auth_types[0] if self.auth_types else "none"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "versions": sorted({self.version, *self.versions}),
            "metadata": self.metadata.to_dict(),
            "category": str(self.metadata.category),
            "capabilities": [c.to_dict() for c in self.capabilities],
            "requiredPermissions": [p.to_dict() for p in self.required_permissions],
            "configSchema": self.config_schema,
            "authTypes": list(self.auth_types),
            "defaultRateLimits": self.default_rate_limits.to_dict(),
            "firstParty": self.first_party,
            "receivesWebhooks": self.receives_webhooks,
        }


@dataclass(frozen=True, slots=True)
class HealthCheckResult:
    """Outcome of a connector's health check."""

    status: str  # healthy | degraded | unhealthy
    checked_at: str
    latency_ms: float
    auth_valid: bool
    service_reachable: bool
    rate_limit_ok: bool
    last_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "checkedAt": self.checked_at,
            "latencyMs": round(self.latency_ms, 3),
            "details": {
                "authValid": self.auth_valid,
                "serviceReachable": self.service_reachable,
                "rateLimitOk": self.rate_limit_ok,
                "lastError": self.last_error,
            },
        }


@dataclass(frozen=True, slots=True)
class ConnectorInstance:
    """A connector installed for a tenant (the seed's ConnectorConfig + ConnectorInstance)."""

    id: str
    tenant_id: str
    connector_id: str
    name: str
    version: str
    status: InstanceStatus
    settings: dict[str, Any]
    auth_type: str
    rate_limits: RateLimits
    features: Features
    installed_at: str
    installed_by: str
    updated_at: str
    granted_capabilities: tuple[str, ...] = ()
    denied_capabilities: tuple[str, ...] = ()
    status_reason: str | None = None
    last_health_check_at: str | None = None
    last_health_status: str | None = None
    last_error_at: str | None = None
    last_error: str | None = None
    last_activity_at: str | None = None
    total_requests: int = 0
    total_errors: int = 0
    total_latency_ms: int = 0

    def evolve(self, **changes: Any) -> ConnectorInstance:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        avg = self.total_latency_ms / self.total_requests if self.total_requests else 0.0
        return {
            "instanceId": self.id,
            "tenantId": self.tenant_id,
            "connectorId": self.connector_id,
            "name": self.name,
            "version": self.version,
            "status": str(self.status),
            "statusReason": self.status_reason,
            "settings": self.settings,
            "authType": self.auth_type,
            "rateLimits": self.rate_limits.to_dict(),
            "features": self.features.to_dict(),
            "grantedCapabilities": list(self.granted_capabilities),
            "deniedCapabilities": list(self.denied_capabilities),
            "installedAt": self.installed_at,
            "installedBy": self.installed_by,
            "updatedAt": self.updated_at,
            "lastActivityAt": self.last_activity_at,
            "lastHealthCheckAt": self.last_health_check_at,
            "lastHealthStatus": self.last_health_status,
            "lastErrorAt": self.last_error_at,
            "lastError": self.last_error,
            "usage": {
                "totalRequests": self.total_requests,
                "totalErrors": self.total_errors,
                "averageLatencyMs": round(avg, 3),
            },
        }


class ConnectorAction(NamedTuple):
    """One call to a connector action, with its request context (immutable; a named tuple
    because every call builds one, and it costs a third of a frozen dataclass)."""

    action: str
    params: dict[str, Any]
    tenant_id: str
    user_id: str
    timeout_ms: int
    trace_id: str
    session_id: str = ""
    idempotency_key: str | None = None
    no_cache: bool = False


@dataclass(slots=True)
class ResultMetadata:
    """Execution metadata of a ConnectorResult."""

    duration_ms: float = 0.0
    api_calls: int = 0
    cached: bool = False
    attempts: int = 0
    tokens_used: int | None = None
    rate_limit_remaining: int | None = None
    rate_limit_reset_at: str | None = None
    trace_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "durationMs": round(self.duration_ms, 3),
            "apiCalls": self.api_calls,
            "cached": self.cached,
            "attempts": self.attempts,
        }
        if self.tokens_used is not None:
            out["tokensUsed"] = self.tokens_used
        if self.rate_limit_remaining is not None:
            out["rateLimitRemaining"] = self.rate_limit_remaining
        if self.rate_limit_reset_at is not None:
            out["rateLimitResetAt"] = self.rate_limit_reset_at
        if self.trace_id is not None:
            out["traceId"] = self.trace_id
        return out


@dataclass(slots=True)
class ConnectorResult:
    """The uniform outcome of every connector call (``exec --json`` prints it whole)."""

    success: bool
    data: Any = None
    error: dict[str, Any] | None = None
    metadata: ResultMetadata = field(default_factory=ResultMetadata)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "success": self.success,
            "data": self.data,
            "metadata": self.metadata.to_dict(),
        }
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass(frozen=True, slots=True)
class IntegrationEvent:
    """Something that happened at a provider or in the fabric, as the event bus carries it."""

    id: str
    type: str
    source: str
    tenant_id: str
    timestamp: str
    data: dict[str, Any]
    correlation_id: str
    connector_id: str
    connector_version: str = ""
    delivery_attempt: int = 1
    original_webhook_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "connectorId": self.connector_id,
            "connectorVersion": self.connector_version,
            "deliveryAttempt": self.delivery_attempt,
        }
        if self.original_webhook_id is not None:
            meta["originalWebhookId"] = self.original_webhook_id
        return {
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "tenantId": self.tenant_id,
            "timestamp": self.timestamp,
            "data": self.data,
            "correlationId": self.correlation_id,
            "metadata": meta,
        }
