"""``BaseConnector``: what a connector author subclasses."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from cuervo_fabric.domain.models import (
    Capability,
    ConnectorMetadata,
    ConnectorSpec,
    HealthCheckResult,
    Permission,
    RateLimits,
)
from cuervo_fabric.domain.timeutil import now_iso
from cuervo_fabric.errors import FabricError, UnknownActionError
from cuervo_fabric.sdk._action import ActionDeclaration

if TYPE_CHECKING:
    import httpx

__all__ = ["BaseConnector", "ConnectorContext", "HttpClient"]


class HttpClient(Protocol):
    """The HTTP client the gateway hands to a connector.

    Every request goes through the gateway: credentials are injected on each attempt, retries
    follow the policy, provider rate-limit headers feed the limiter, and failures raise the stable
    errors (``UpstreamError``, ``AuthFailedError``, ``RateLimitedError``, ``FabricTimeoutError``).

    Example:
        >>> resp = self.http.get("/user/repos", params={"per_page": 50})  # doctest: +SKIP
        >>> resp.json()  # doctest: +SKIP
    """

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        raise_for_status: bool = True,
    ) -> httpx.Response: ...

    def get(self, url: str, **kwargs: Any) -> httpx.Response: ...

    def post(self, url: str, **kwargs: Any) -> httpx.Response: ...

    def put(self, url: str, **kwargs: Any) -> httpx.Response: ...

    def patch(self, url: str, **kwargs: Any) -> httpx.Response: ...

    def delete(self, url: str, **kwargs: Any) -> httpx.Response: ...


@dataclass(slots=True)
class ConnectorContext:
    """What a connector instance gets from the fabric when it runs."""

    tenant_id: str
    instance_id: str
    settings: dict[str, Any]
    http: HttpClient
    log: Callable[[str], None] = field(default=lambda message: None)


class BaseConnector:
    """Base class of every connector.

    Declare the connector with class attributes, its capabilities with ``@action`` methods, and
    override the template methods you need (``on_initialize``, ``on_shutdown``,
    ``on_health_check``, ``on_upgrade``). The fabric calls the final methods (``spec``,
    ``run_action``, ``health_check``).

    Example:
        >>> from cuervo_fabric.sdk import BaseConnector, ConnectorMetadata, action
        >>> class Acme(BaseConnector):
        ...     id = "acme"
        ...     version = "1.0.0"
        ...     metadata = ConnectorMetadata(name="Acme", description="Acme API",
        ...                                  category="custom", vendor="Acme Inc.")
        ...     config_schema = {"type": "object", "required": ["base_url"],
        ...                      "properties": {"base_url": {"type": "string"}}}
        ...     auth_types = ("api_key",)
        ...
        ...     @action("widget.list", cache_ttl=60)
        ...     def list_widgets(self, params):
        ...         return self.http.get("/widgets").json()
    """

    id: ClassVar[str]
    version: ClassVar[str]
    metadata: ClassVar[ConnectorMetadata]
    required_permissions: ClassVar[tuple[Permission, ...]] = ()
    config_schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}
    auth_types: ClassVar[tuple[str, ...]] = ("none",)
    auth_type_setting: ClassVar[str | None] = None
    default_rate_limits: ClassVar[RateLimits] = RateLimits()
    versions: ClassVar[tuple[str, ...]] = ()
    #: Path (relative to ``base_url``) the default health check GETs.
    health_path: ClassVar[str | None] = None
    receives_webhooks: ClassVar[bool] = False

    def __init__(self, context: ConnectorContext) -> None:
        self.context = context
        self.settings = context.settings
        self.http = context.http

    # ------------------------------------------------------------------ template methods
    def on_initialize(self) -> None:
        """Called once before the first action of this process. Validate or prepare here.

        Example:
            >>> def on_initialize(self):  # doctest: +SKIP
            ...     self.org = self.settings.get("org")
        """

    def on_shutdown(self) -> None:
        """Called when the fabric is done with this instance. Release resources here."""

    def on_health_check(self) -> dict[str, Any]:
        """Check the provider; return ``{"status": "healthy"|"degraded"|"unhealthy", ...}``.

        The default GETs ``health_path`` when set and calls the service reachable if it answers.
        Raise a ``FabricError`` to report auth or reachability failures.

        Example:
            >>> def on_health_check(self):  # doctest: +SKIP
            ...     self.http.get("/rate_limit")
            ...     return {"status": "healthy"}
        """
        if self.health_path is not None:
            self.http.get(self.health_path)
        return {"status": "healthy"}

    @classmethod
    def on_upgrade(cls, from_version: str, to_version: str, settings: dict[str, Any]) -> dict[str, Any]:
        """Migrate an instance's settings between versions (``connector upgrade``).

        Example:
            >>> @classmethod
            ... def on_upgrade(cls, from_version, to_version, settings):  # doctest: +SKIP
            ...     settings = dict(settings)
            ...     settings["api_version"] = settings.pop("version", "2022-11-28")
            ...     return settings
        """
        return settings

    # ------------------------------------------------------------------ final methods
    @classmethod
    def declarations(cls) -> dict[str, tuple[str, ActionDeclaration]]:
        """``{action id: (method name, declaration)}`` gathered from ``@action`` methods."""
        found: dict[str, tuple[str, ActionDeclaration]] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                decl = getattr(value, "__cuervo_action__", None)
                if isinstance(decl, ActionDeclaration):
                    found[decl.id] = (attr, decl)
        return found

    @classmethod
    def spec(cls) -> ConnectorSpec:
        """The connector's declaration as the registry stores it."""
        caps = tuple(
            Capability(
                id=decl.id,
                name=decl.name,
                description=decl.description,
                required_scopes=decl.scopes,
                weight=decl.weight,
                cache_ttl=decl.cache_ttl,
                mutating=decl.mutating,
                params_schema=decl.params_schema(),
                streaming=decl.streaming,
            )
            for _, decl in cls.declarations().values()
        )
        return ConnectorSpec(
            id=cls.id,
            version=cls.version,
            metadata=cls.metadata,
            capabilities=caps,
            required_permissions=tuple(cls.required_permissions),
            config_schema=cls.config_schema,
            auth_types=tuple(cls.auth_types),
            auth_type_setting=cls.auth_type_setting,
            default_rate_limits=cls.default_rate_limits,
            versions=tuple(cls.versions),
            receives_webhooks=cls.receives_webhooks,
        )

    def run_action(self, action_id: str, params: dict[str, Any]) -> Any:
        """Call the handler of ``action_id`` with validated ``params``."""
        entry = self.declarations().get(action_id)
        if entry is None:
            raise UnknownActionError(f"{self.id} has no action {action_id!r}")
        method_name, decl = entry
        handler = getattr(self, method_name)
        if decl.params is not None and not isinstance(decl.params, dict):
            return handler(decl.params.model_validate(params))
        return handler(params)

    def stream_action(self, action_id: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Run a streaming handler; yields ConnectorEvent dicts."""
        result = self.run_action(action_id, params)
        if not hasattr(result, "__next__"):
            yield {"type": "complete", "summary": result}
            return
        yield from result

    def health_check(self) -> HealthCheckResult:
        """Run ``on_health_check`` and turn its outcome into a HealthCheckResult."""
        started = time.perf_counter()
        auth_valid = reachable = rate_ok = True
        last_error: str | None = None
        try:
            outcome = self.on_health_check() or {}
            status = str(outcome.get("status", "healthy"))
        except FabricError as exc:
            last_error = exc.message
            if exc.code in ("AUTH_FAILED", "AUTH_REQUIRED"):
                auth_valid, status = False, "unhealthy"
            elif exc.code == "RATE_LIMITED":
                rate_ok, status = False, "degraded"
            else:
                reachable, status = False, "unhealthy"
        return HealthCheckResult(
            status=status,
            checked_at=now_iso(),
            latency_ms=(time.perf_counter() - started) * 1000,
            auth_valid=auth_valid,
            service_reachable=reachable,
            rate_limit_ok=rate_ok,
            last_error=last_error,
        )
