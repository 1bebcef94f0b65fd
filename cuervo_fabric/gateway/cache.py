"""Stage 4: the response cache, for read actions that declare ``@action(cache_ttl=...)``.

Entries are keyed by tenant, instance, action and a hash of the (validated) params, live in the
store (so every process shares them) and expire after the TTL. ``--no-cache`` skips the lookup
and stores the fresh result. A hit says ``metadata.cached: true`` and sends nothing out, so it
needs neither the breaker nor a rate-limit token: the stage runs before both.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cuervo_fabric.domain.models import ConnectorResult
from cuervo_fabric.gateway.pipeline import Call, Handler, Middleware

if TYPE_CHECKING:
    from cuervo_fabric.ports import GatewayState

__all__ = ["InstanceKeyValueCache", "cache_key", "cache_stage"]


def cache_key(action: str, params: dict[str, Any]) -> str:
    """A stable key for an action and its params (key order does not matter)."""
    import hashlib  # loads OpenSSL: only calls that can be cached pay for it

    text = json.dumps([action, params], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def cache_stage(state: GatewayState, clock: Callable[[], float] = time.time) -> Middleware:
    def middleware(next_: Handler) -> Handler:
        def run(call: Call) -> ConnectorResult:
            cap = call.capability
            if call.health or call.streaming or cap is None or cap.cache_ttl <= 0 or cap.mutating:
                if call.trace is not None:
                    why = (
                        "health check" if call.health else "streaming" if call.streaming
                        else "mutating action" if cap is not None and cap.mutating else "no cache_ttl"
                    )  # fmt: skip
                    call.explain("cache", result="skip", reason=why)
                return next_(call)
            inst = call.instance
            key = cache_key(call.action.action, call.action.params)
            if call.action.no_cache:
                call.explain("cache", result="bypass", ttl=cap.cache_ttl)
            else:
                hit = state.cache_get(inst.tenant_id, inst.id, key, clock())
                if hit is not None:
                    call.explain("cache", result="hit", ttl=cap.cache_ttl)
                    call.metadata.cached = True
                    call.metadata.duration_ms = (time.perf_counter() - call.started) * 1000
                    return ConnectorResult(success=True, data=json.loads(hit), metadata=call.metadata)
                call.explain("cache", result="miss", ttl=cap.cache_ttl)
            result = next_(call)
            if result.success:
                try:
                    value = json.dumps(result.data, separators=(",", ":"))
                except (TypeError, ValueError):
                    call.explain("cache", stored=False, reason="result is not JSON")
                    return result
                now = clock()
                state.cache_put(
                    inst.tenant_id, inst.id, key, call.action.action, value, now + cap.cache_ttl, now
                )
            return result

        return run

    return middleware


class InstanceKeyValueCache:
    """``ConnectorContext.cache``: a connector's own entries (ETags, say) in the gateway cache table.

    Keys are namespaced (``kv:``) apart from action results and scoped to one tenant and instance,
    so uninstalling the instance removes them with the rest of its gateway state.
    """

    __slots__ = ("_clock", "_instance", "_state", "_tenant")

    def __init__(
        self, state: GatewayState, tenant_id: str, instance_id: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._state = state
        self._tenant = tenant_id
        self._instance = instance_id
        self._clock = clock

    def get(self, key: str) -> str | None:
        return self._state.cache_get(self._tenant, self._instance, "kv:" + key, self._clock())

    def set(self, key: str, value: str, ttl_s: int) -> None:
        now = self._clock()
        self._state.cache_put(self._tenant, self._instance, "kv:" + key, "kv", value, now + ttl_s, now)
