"""Pipeline plumbing: the ``Call`` that flows through the stages, ``compose``, and the endpoint."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cuervo_fabric.domain.models import (
    Capability,
    ConnectorAction,
    ConnectorInstance,
    ConnectorResult,
    ConnectorSpec,
    InstanceStatus,
    ResultMetadata,
)
from cuervo_fabric.domain.schema import validate
from cuervo_fabric.errors import (
    AuthRequiredError,
    FabricError,
    InternalError,
    InvalidStateError,
    PermissionDeniedError,
    UnknownActionError,
)

if TYPE_CHECKING:
    from cuervo_fabric.domain.gateway import InstanceView

__all__ = [
    "Call",
    "Handler",
    "Middleware",
    "compose",
    "failure",
    "permission_stage",
]


@dataclass(slots=True)
class Call:
    """One connector call on its way through the pipeline."""

    instance: ConnectorInstance
    spec: ConnectorSpec
    action: ConnectorAction
    connector_cls: Any
    capability: Capability | None = None
    metadata: ResultMetadata = field(default_factory=ResultMetadata)
    #: ``--explain``: one dict per stage decision, in order (``None``: not asked for, not kept).
    trace: list[dict[str, Any]] | None = None
    #: The instance's shared state as this process last read it (``None``: read it in each stage).
    view: InstanceView | None = None
    #: Set by the HTTP client: provider rate-limit figures seen on responses.
    provider_limits: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    #: Set when the call streams: ConnectorEvent dicts.
    streaming: bool = False
    #: A health check rather than an action (``cuervo-fabric health``).
    health: bool = False
    #: The connector's ``on_uninstall`` hook rather than an action (``connector uninstall``).
    uninstall: bool = False
    #: ``exec --stream``: receives each ConnectorEvent as the connector yields it.
    on_event: Callable[[dict[str, Any]], None] | None = None

    def explain(self, stage: str, **facts: Any) -> None:
        """Add a stage's decision to the trace (stages skip building costly facts when
        ``trace`` is ``None``)."""
        if self.trace is not None:
            self.trace.append({"stage": stage, **facts})


Handler = Callable[[Call], ConnectorResult]
Middleware = Callable[[Handler], Handler]


def compose(stages: Sequence[Middleware], endpoint: Handler) -> Handler:
    """``compose([a, b], end)`` runs ``a`` first, then ``b``, then ``end``."""
    handler = endpoint
    for stage in reversed(stages):
        handler = stage(handler)
    return handler


def failure(call: Call, exc: FabricError) -> ConnectorResult:
    """A ConnectorResult for an error, with the call's metadata."""
    call.metadata.duration_ms = (time.perf_counter() - call.started) * 1000
    return ConnectorResult(success=False, data=None, error=exc.to_dict(), metadata=call.metadata)


_RUNNABLE = {InstanceStatus.ACTIVE, InstanceStatus.DEGRADED, InstanceStatus.ERROR}


def permission_stage(next_: Handler) -> Handler:
    """Stage 1: the action must be declared, granted and not denied; the instance runnable."""

    def run(call: Call) -> ConnectorResult:
        inst, name = call.instance, call.action.action
        if call.health or call.uninstall:
            return _check_runnable(call, next_, health=True)
        cap = call.spec.capability(name)
        if cap is None:
            known = ", ".join(c.id for c in call.spec.capabilities)
            call.explain("permission", allowed=False, reason="unknown action")
            return failure(
                call,
                UnknownActionError(
                    f"{call.spec.id} has no action {name!r} (actions: {known})",
                    details={"action": name},
                ),
            )
        if name in inst.denied_capabilities or (
            inst.granted_capabilities and name not in inst.granted_capabilities
        ):
            call.explain("permission", allowed=False, reason="capability denied")
            return failure(
                call,
                PermissionDeniedError(
                    f"capability {name!r} is not granted to instance {inst.name!r}",
                    details={"action": name},
                ),
            )
        if cap.params_schema is not None:
            try:
                params = validate(cap.params_schema, call.action.params, coerce_text=True)
            except FabricError as exc:
                call.explain("permission", allowed=False, reason="invalid params")
                return failure(call, exc)
            if params != call.action.params:  # defaults or coercions were applied
                # ``new_call`` copied the caller's params: the call owns this dict.
                call.action.params.clear()
                call.action.params.update(params)
        call.capability = cap
        if inst.status in _RUNNABLE and call.trace is None:  # the common case, in short
            return next_(call)
        return _check_runnable(call, next_, health=False)

    return run


def _check_runnable(call: Call, next_: Handler, *, health: bool) -> ConnectorResult:
    inst = call.instance
    status = inst.status
    if status in _RUNNABLE:  # the common case
        if call.trace is not None:
            weight = call.capability.weight if call.capability else 1
            call.explain("permission", allowed=True, action=call.action.action, weight=weight)
        return next_(call)
    # A health check may run while authenticating: that is how `auth login` verifies a credential.
    not_ready = {InstanceStatus.INSTALLED} | (set() if health else {InstanceStatus.AUTHENTICATING})
    if inst.status in not_ready:
        call.explain("permission", allowed=False, reason=f"instance {inst.status.value}")
        return failure(
            call,
            AuthRequiredError(
                f"instance {inst.name!r} is {inst.status.value}: run "
                f"`cuervo-fabric auth login {inst.name}` first",
                details={"instance": inst.name},
            ),
        )
    runnable = _RUNNABLE | ({InstanceStatus.PAUSED, InstanceStatus.AUTHENTICATING} if health else set())
    if call.uninstall:  # the connector's clean-up runs while the instance is being uninstalled
        runnable = runnable | {InstanceStatus.UNINSTALLING}
    if inst.status not in runnable:
        call.explain("permission", allowed=False, reason=f"instance {inst.status.value}")
        return failure(
            call,
            InvalidStateError(
                f"instance {inst.name!r} is {inst.status.value}"
                + ("; resume it first" if inst.status is InstanceStatus.PAUSED else ""),
                details={"currentStatus": inst.status.value},
            ),
        )
    weight = call.capability.weight if call.capability else 1
    call.explain("permission", allowed=True, action=call.action.action, weight=weight)
    return next_(call)


def endpoint(make_client: Callable[[Call], Any], make_cache: Callable[[Call], Any] | None = None) -> Handler:
    """The innermost handler: build the connector with a gateway HTTP client and run the action."""

    from cuervo_fabric.sdk import ConnectorContext

    def run(call: Call) -> ConnectorResult:
        client = make_client(call)
        try:
            connector = call.connector_cls(
                ConnectorContext(
                    tenant_id=call.instance.tenant_id,
                    instance_id=call.instance.id,
                    settings=dict(call.instance.settings),
                    http=client,
                    cache=make_cache(call) if make_cache is not None else None,
                )
            )
            connector.on_initialize()
            if call.health:
                data: Any = connector.health_check().to_dict()
            elif call.uninstall:
                connector.on_uninstall()
                data = None
            elif call.streaming:
                events: list[dict[str, Any]] = []
                for event in connector.stream_action(call.action.action, call.action.params):
                    if call.on_event is not None:
                        call.on_event(event)
                    else:
                        events.append(event)
                data = events
            else:
                data = connector.run_action(call.action.action, call.action.params)
            connector.on_shutdown()
        except FabricError as exc:
            return failure(call, exc)
        except Exception as exc:  # noqa: BLE001 - a connector bug is reported, never raised
            return failure(
                call, InternalError(f"connector {call.spec.id} failed: {type(exc).__name__}: {exc}")
            )
        finally:
            close = getattr(client, "close", None)
            if close is not None:
                close()
        call.metadata.duration_ms = (time.perf_counter() - call.started) * 1000
        return ConnectorResult(success=True, data=data, metadata=call.metadata)

    return run
