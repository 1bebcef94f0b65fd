"""``Gateway``: resolves an instance, builds the ``Call`` and runs it through the pipeline.

A long-running process (the server, a benchmark) keeps what it read about each instance: the
instance itself and its ``InstanceView`` (breaker, tenant limits, provider block, credential
version), and re-reads them only when the store's ``change_marker`` moved. In SQLite that marker
moves whenever any connection commits or this one writes, so another process's change (a pause,
a breaker opening, a new credential) is seen on the very next call, and a call in the common case
reads nothing at all. A store without a cheap marker (PostgreSQL) reads the view, one statement,
on every call.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cuervo_fabric.domain.models import ConnectorAction, ConnectorInstance, ConnectorResult
from cuervo_fabric.gateway.pipeline import Call, Handler

if TYPE_CHECKING:
    from cuervo_fabric.domain.gateway import InstanceView
    from cuervo_fabric.ports import GatewayState

__all__ = ["Gateway"]

DEFAULT_TIMEOUT_MS = 30_000


class Gateway:
    """Runs connector actions (and health checks) for one tenant through one pipeline."""

    def __init__(
        self,
        *,
        tenant: str,
        user: str,
        resolve: Callable[[str], ConnectorInstance],
        registry: Any,
        pipeline: Handler,
        state: GatewayState | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.tenant = tenant
        self.user = user
        self._resolve = resolve
        self._state = state
        self._on_close = on_close
        #: ref -> (change marker, instance, view): valid while the store's marker is unchanged.
        self._hot: dict[str, tuple[object, ConnectorInstance, InstanceView | None]] = {}
        #: ref -> the instance last resolved (re-read only when its version changed).
        self._instances: dict[str, ConnectorInstance] = {}
        #: connector id -> (spec, class): the registry does not change while a process runs.
        self._connectors: dict[str, tuple[Any, Any]] = {}
        self.registry = registry
        self.pipeline = pipeline

    def resolve(self, ref: str) -> ConnectorInstance:
        """The instance ``ref`` names, re-read only when it changed since this process last read it."""
        return self._resolve_view(ref)[0]

    def _resolve_view(self, ref: str) -> tuple[ConnectorInstance, InstanceView | None]:
        state = self._state
        if state is None:
            return self._resolve(ref), None
        marker = state.change_marker()
        if marker is not None:
            hit = self._hot.get(ref)  # (marker, instance, view): valid while the marker holds
            if hit is not None and hit[0] == marker:
                return hit[1], hit[2]
        instance = self._instances.get(ref)
        view = None
        if instance is not None:
            view = state.instance_view(instance.tenant_id, instance.id)
            if view is None or (view.status, view.updated_at) != (instance.status.value, instance.updated_at):
                instance = None
        if instance is None:
            instance = self._resolve(ref)
            view = state.instance_view(instance.tenant_id, instance.id)
            self._instances[ref] = instance
        if marker is not None:
            # Read after the marker, so at least as new as it: a change committed meanwhile
            # moves the marker again and the next call reads once more.
            self._hot[ref] = (marker, instance, view)
        return instance, view

    def new_call(
        self,
        ref: str,
        action: str,
        params: dict[str, Any] | None = None,
        *,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        idempotency_key: str | None = None,
        no_cache: bool = False,
        trace_id: str | None = None,
        explain: bool = False,
    ) -> Call:
        """A call ready for ``run``; ``explain`` keeps the trace of every stage in ``call.trace``."""
        instance, view = self._resolve_view(ref)
        connector_id = instance.connector_id
        known = self._connectors.get(connector_id)
        if known is None:
            known = self._connectors[connector_id] = (
                self.registry.get(connector_id),
                self.registry.load(connector_id),
            )
        return Call(
            instance=instance,
            spec=known[0],
            connector_cls=known[1],
            action=ConnectorAction(
                action=action,
                params=dict(params) if params else {},
                tenant_id=self.tenant,
                user_id=self.user,
                timeout_ms=timeout_ms,
                trace_id=trace_id or uuid.uuid4().hex,
                idempotency_key=idempotency_key,
                no_cache=no_cache,
            ),
            view=view,
            trace=[] if explain else None,
        )

    def run(self, call: Call) -> ConnectorResult:
        call.metadata.trace_id = call.action.trace_id
        return self.pipeline(call)

    def execute(
        self, ref: str, action: str, params: dict[str, Any] | None = None, **kw: Any
    ) -> ConnectorResult:
        return self.run(self.new_call(ref, action, params, **kw))

    def close(self) -> None:
        """Give back what this process holds ahead (reserved rate-limit tokens)."""
        if self._on_close is not None:
            self._on_close()
