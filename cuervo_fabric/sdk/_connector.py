"""``BaseConnector``: what a connector author subclasses.

Template methods (override them): ``on_initialize``, ``on_shutdown``, ``on_health_check``,
``on_uninstall``, ``on_upgrade`` and ``actions``. Final methods (the fabric calls them; a subclass
that redefines one is refused when the class is created, and mypy reports it through ``@final``):
``__init__``, ``declarations``, ``spec``, ``run_action``, ``stream_action`` and ``health_check``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, final

from cuervo_fabric.domain.models import (
    Capability,
    ConnectorMetadata,
    ConnectorSpec,
    HealthCheckResult,
    Permission,
    RateLimits,
)
from cuervo_fabric.domain.timeutil import now_iso
from cuervo_fabric.errors import FabricError, InvalidInputError, UnknownActionError
from cuervo_fabric.sdk._action import MARKER, ActionDeclaration

if TYPE_CHECKING:
    import httpx

__all__ = ["BaseConnector", "ConnectorContext", "HttpClient", "KeyValueCache"]


#: ``declarations()`` per connector class: walking the MRO on every call costs ~30 us.
#: Where a connector class keeps its declarations once built (in its own ``__dict__``, so a
#: subclass never reads its parent's).
_DECLARED = "_cuervo_fabric_declarations"


class HttpClient(Protocol):
    """The HTTP client the gateway hands to a connector.

    Every request goes through the gateway: credentials are injected on each attempt, retries
    follow the policy, provider rate-limit headers feed the limiter, and failures raise the stable
    errors (``UpstreamError``, ``AuthFailedError``, ``RateLimitedError``, ``FabricTimeoutError``).

    Paths are relative to the instance's ``base_url``. ``raise_for_status=False`` returns error
    responses instead of raising, for APIs where a 404 is an answer.

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
    ) -> httpx.Response:
        """Send one request through the gateway and return the provider's response."""
        ...

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """``request("GET", url, **kwargs)``."""
        ...

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """``request("POST", url, **kwargs)``."""
        ...

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        """``request("PUT", url, **kwargs)``."""
        ...

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        """``request("PATCH", url, **kwargs)``."""
        ...

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        """``request("DELETE", url, **kwargs)``."""
        ...


class KeyValueCache(Protocol):
    """A small per-instance key-value store the fabric keeps in its store (``context.cache``).

    Values are text; entries expire after ``ttl_s`` seconds. Separate CLI processes see the same
    entries, which is what makes ETag revalidation work across ``exec`` calls.

    Example:
        >>> cache = self.context.cache  # doctest: +SKIP
        >>> if cache is not None:  # doctest: +SKIP
        ...     cache.set("etag:/user/repos", '"abc123"', 3600)
        ...     cache.get("etag:/user/repos")
        '"abc123"'
    """

    def get(self, key: str) -> str | None:
        """The stored value, or None when absent or expired."""
        ...

    def set(self, key: str, value: str, ttl_s: int) -> None:
        """Store ``value`` under ``key`` for ``ttl_s`` seconds."""
        ...


@dataclass(slots=True)
class ConnectorContext:
    """What a connector instance gets from the fabric when it runs.

    Attributes:
        tenant_id: the tenant the call runs in.
        instance_id: the installed instance.
        settings: the instance's validated settings (defaults applied).
        http: the gateway's HTTP client for this call.
        log: writes a diagnostic line (never pass a secret).
        cache: a key-value store in the fabric's store, shared across processes (may be None).

    Example:
        >>> ctx = ConnectorContext("default", "i-1", {"base_url": "http://127.0.0.1:8000"},
        ...                        http=None)  # doctest: +SKIP
        >>> AcmeConnector(ctx).run_action("widget.list", {})  # doctest: +SKIP
    """

    tenant_id: str
    instance_id: str
    settings: dict[str, Any]
    http: HttpClient
    log: Callable[[str], None] = field(default=lambda message: None)
    #: A small key-value store shared by every process of this instance (e.g. ETags), or None.
    cache: KeyValueCache | None = None


class BaseConnector:
    """Base class of every connector.

    Declare the connector with class attributes, its capabilities with ``@action`` methods, and
    override the template methods you need (``on_initialize``, ``on_shutdown``,
    ``on_health_check``, ``on_upgrade``, ``actions``). The fabric calls the final methods
    (``spec``, ``run_action``, ``stream_action``, ``health_check``).

    Attributes:
        id: the registry id, kebab-case (``"acme"``); the entry point's name must match it.
        version: the connector's semantic version.
        metadata: name, description, category, vendor and links.
        required_permissions: the cuervo-side permission scopes it asks for, each justified.
        config_schema: JSON Schema of the instance settings (``connector install --set``).
        auth_types: the auth types it supports; the first is the default.
        auth_type_setting: the setting that picks one of ``auth_types``, if any.
        default_rate_limits: local limits a new instance starts with.
        versions: other versions an instance may be upgraded to or from.
        health_path: path the default ``on_health_check`` GETs.
        receives_webhooks: the provider sends webhooks (a verifier must be declared).
        settings: (per call) the instance's settings.
        http: (per call) the gateway's HTTP client.

    Example:
        >>> from typing import Any
        >>> from cuervo_fabric.sdk import BaseConnector, ConnectorCategory, ConnectorMetadata, action
        >>> class Acme(BaseConnector):
        ...     id = "acme"
        ...     version = "1.0.0"
        ...     metadata = ConnectorMetadata(name="Acme", description="Acme API",
        ...                                  category=ConnectorCategory.CUSTOM, vendor="Acme Inc.")
        ...     config_schema = {"type": "object", "required": ["base_url"],
        ...                      "properties": {"base_url": {"type": "string"}}}
        ...     auth_types = ("api_key",)
        ...
        ...     @action("widget.list", cache_ttl=60)
        ...     def list_widgets(self, params: dict[str, Any]) -> Any:
        ...         return self.http.get("/widgets").json()
        >>> Acme.spec().capability("widget.list").cache_ttl
        60
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

    _FINAL: ClassVar[frozenset[str]] = frozenset(
        {"__init__", "declarations", "spec", "run_action", "stream_action", "health_check"}
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        overridden = sorted(cls._FINAL & set(vars(cls)))
        if overridden:
            raise TypeError(
                f"{cls.__name__} redefines {', '.join(overridden)} of BaseConnector; these are final. "
                "Override the template methods instead (on_initialize, on_shutdown, on_health_check, "
                "on_upgrade, actions)"
            )
        seen: dict[str, str] = {}
        for attr, value in vars(cls).items():
            decl = getattr(value, MARKER, None)
            if isinstance(decl, ActionDeclaration):
                if decl.id in seen:
                    raise TypeError(
                        f"{cls.__name__}: action {decl.id!r} is declared twice ({seen[decl.id]} and {attr})"
                    )
                seen[decl.id] = attr

    @final
    def __init__(self, context: ConnectorContext) -> None:
        """Bind the connector to one call's context (final: use ``on_initialize``).

        Example:
            >>> connector = AcmeConnector(context)  # doctest: +SKIP
        """
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
        """Called when the fabric is done with this instance. Release resources here.

        Example:
            >>> def on_shutdown(self):  # doctest: +SKIP
            ...     self.session_cache.clear()
        """

    def on_uninstall(self) -> None:
        """Called by ``connector uninstall`` while the credential still works.

        Undo what the connector set up at the provider (webhooks it registered, say). A failure
        here is reported as a warning and never blocks the uninstall.

        Example:
            >>> def on_uninstall(self):  # doctest: +SKIP
            ...     for hook in self.settings.get("registered_hooks", []):
            ...         self.http.delete(f"/hooks/{hook}")
        """

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

    @classmethod
    def actions(cls) -> Iterable[ActionDeclaration]:
        """Declare actions built at run time, beside the ``@action`` methods (template method).

        Most connectors never override this. Override it when the capabilities come from data (an
        API description, a list of resources): return one ``ActionDeclaration`` per action, each
        naming its ``handler`` (a method name, or a function ``handler(connector, params)``).

        Example:
            >>> from typing import Any
            >>> from cuervo_fabric.sdk import ActionDeclaration, BaseConnector
            >>> class Crud(BaseConnector):
            ...     @classmethod
            ...     def actions(cls) -> list[ActionDeclaration]:
            ...         return [ActionDeclaration(f"{kind}.list", handler=cls.list_things)
            ...                 for kind in ("user", "team")]
            ...
            ...     def list_things(self, params: dict[str, Any]) -> list[Any]:
            ...         return []
            >>> sorted(Crud.declarations())
            ['team.list', 'user.list']
        """
        return ()

    # ------------------------------------------------------------------ final methods
    @final
    @classmethod
    def declarations(cls) -> dict[str, ActionDeclaration]:
        """Every action of the connector: ``@action`` methods plus ``actions()``, by id.

        Each declaration's ``handler`` is set (a method name or a function).

        Example:
            >>> from cuervo_fabric_http.connector import HttpConnector
            >>> HttpConnector.declarations()["request"].handler
            'request'
        """
        cached = cls.__dict__.get(_DECLARED)
        if cached is not None:
            return dict(cached)
        found: dict[str, ActionDeclaration] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                decl = getattr(value, MARKER, None)
                if isinstance(decl, ActionDeclaration):
                    found[decl.id] = replace(decl, handler=attr)
        for decl in cls.actions():
            if decl.handler is None:
                raise TypeError(f"{cls.__name__}.actions(): {decl.id!r} names no handler")
            found[decl.id] = decl
        type.__setattr__(cls, _DECLARED, found)
        return dict(found)

    @final
    @classmethod
    def spec(cls) -> ConnectorSpec:
        """The connector's declaration as the registry stores it.

        Example:
            >>> from cuervo_fabric_http.connector import HttpConnector
            >>> HttpConnector.spec().capability("request").weight
            1
        """
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
            for decl in cls.declarations().values()
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

    @final
    def run_action(self, action_id: str, params: dict[str, Any]) -> Any:
        """Call the handler of ``action_id`` with ``params`` (already validated by the gateway).

        A pydantic params model is built here; its validation errors become ``INVALID_INPUT``.
        A pydantic model returned by the handler is dumped to JSON-ready data.

        Example:
            >>> connector.run_action("request", {"path": "/health"})  # doctest: +SKIP
        """
        held = type(self).__dict__.get(_DECLARED)  # read-only here: no copy per call
        decl = (held if held is not None else self.declarations()).get(action_id)
        if decl is None:
            known = ", ".join(sorted(self.declarations())) or "none"
            raise UnknownActionError(
                f"{self.id} has no action {action_id!r} (actions: {known})", details={"action": action_id}
            )
        handler = self._handler(decl)
        model = decl.params_model
        argument: Any = params
        if model is not None:
            try:
                argument = model.model_validate(params)
            except Exception as exc:
                raise _invalid_params(exc) from exc
        return _to_data(handler(argument))

    def _handler(self, decl: ActionDeclaration) -> Callable[[Any], Any]:
        target = decl.handler
        if isinstance(target, str):
            bound: Callable[[Any], Any] = getattr(self, target)
            return bound
        if callable(target):
            fn = target
            return lambda params: fn(self, params)
        raise TypeError(f"action {decl.id!r} has no handler")

    @final
    def stream_action(self, action_id: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Run a handler and yield ConnectorEvent dicts (one ``complete`` event for a plain result).

        Example:
            >>> for event in connector.stream_action("chat", {"prompt": "hi"}):  # doctest: +SKIP
            ...     print(event["type"])
        """
        result = self.run_action(action_id, params)
        if not hasattr(result, "__next__"):
            yield {"type": "complete", "summary": result}
            return
        yield from result

    @final
    def health_check(self) -> HealthCheckResult:
        """Run ``on_health_check`` and turn its outcome into a HealthCheckResult.

        Example:
            >>> connector.health_check().status  # doctest: +SKIP
            'healthy'
        """
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


def _invalid_params(exc: Exception) -> FabricError:
    """A pydantic ``ValidationError`` as ``INVALID_INPUT`` naming the first bad field."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return InvalidInputError(f"invalid parameters: {exc}")
    items = errors()
    if not items:
        return InvalidInputError("invalid parameters")
    first = items[0]
    field_name = ".".join(str(p) for p in first.get("loc", ())) or "params"
    more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
    return InvalidInputError(
        f"{field_name}: {first.get('msg', 'invalid')}{more}", details={"field": field_name}
    )


def _to_data(result: Any) -> Any:
    """Dump pydantic models (or lists of them) a handler returned into JSON-ready data."""
    dump = getattr(result, "model_dump", None)
    if callable(dump):
        return dump(mode="json", by_alias=True)
    if isinstance(result, list | tuple) and result and callable(getattr(result[0], "model_dump", None)):
        return [item.model_dump(mode="json", by_alias=True) for item in result]
    return result
