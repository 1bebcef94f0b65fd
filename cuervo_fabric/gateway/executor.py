"""``Gateway``: resolves an instance, builds the ``Call`` and runs it through the pipeline.

A long-running process (the server, a benchmark) keeps the instances it resolved and re-reads one
only when its ``(status, updated_at)`` changed in the store: every change to an instance (pause,
settings, limits, grants) moves ``updated_at``, so another process's change is seen on the next
call, for one indexed lookup instead of a full row decode.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from cuervo_fabric.domain.models import ConnectorAction, ConnectorInstance, ConnectorResult
from cuervo_fabric.gateway.pipeline import Call, Handler

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
        version: Callable[[str, str], tuple[str, str] | None] | None = None,
    ) -> None:
        self.tenant = tenant
        self.user = user
        self._resolve = resolve
        self._version = version
        self._instances: dict[str, ConnectorInstance] = {}
        self.registry = registry
        self.pipeline = pipeline

    def resolve(self, ref: str) -> ConnectorInstance:
        """The instance ``ref`` names, re-read only when it changed since this process last read it."""
        cached = self._instances.get(ref)
        if (
            cached is not None
            and self._version is not None
            and self._version(cached.tenant_id, cached.id) == (cached.status.value, cached.updated_at)
        ):
            return cached
        instance = self._resolve(ref)
        if self._version is not None:
            self._instances[ref] = instance
        return instance

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
    ) -> Call:
        instance = self.resolve(ref)
        spec = self.registry.get(instance.connector_id)
        cls = self.registry.load(instance.connector_id)
        return Call(
            instance=instance,
            spec=spec,
            connector_cls=cls,
            action=ConnectorAction(
                action=action,
                params=dict(params or {}),
                tenant_id=self.tenant,
                user_id=self.user,
                timeout_ms=timeout_ms,
                trace_id=trace_id or uuid.uuid4().hex,
                idempotency_key=idempotency_key,
                no_cache=no_cache,
            ),
        )

    def run(self, call: Call) -> ConnectorResult:
        call.metadata.trace_id = call.action.trace_id
        return self.pipeline(call)

    def execute(
        self, ref: str, action: str, params: dict[str, Any] | None = None, **kw: Any
    ) -> ConnectorResult:
        return self.run(self.new_call(ref, action, params, **kw))
