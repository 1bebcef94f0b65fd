"""Stage 3: rate limits, per tenant and per instance, shared by every process through the store.

Each limit is a token bucket whose tokens all come back when its window ends (``requestsPerMinute``
refills a minute after the window's first call, like the providers' own remaining/reset counters),
so "10 per minute" never lets an 11th call through within that minute and ``retryAfterMs`` is the
exact time to the refill. A call costs its action's weight (most 1, search 5, bulk 10; never more
than a bucket holds). ``concurrentRequests`` is a count of leases that expire after the call's
timeout. A provider's stored ``blocked_until`` refuses calls first, in every process.

Refusals are ``RATE_LIMITED`` with ``retryAfterMs`` and ``limitType``: ``tenant``, ``connector``
(the instance's own limits) or ``external`` (the provider's).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from cuervo_fabric.domain.models import ConnectorResult
from cuervo_fabric.errors import RateLimitedError
from cuervo_fabric.gateway.circuit import LEASE_SLACK_S
from cuervo_fabric.gateway.pipeline import Call, Handler, Middleware, failure

if TYPE_CHECKING:
    from cuervo_fabric.ports import GatewayState

__all__ = ["ratelimit_stage"]


def ratelimit_stage(state: GatewayState, clock: Callable[[], float] = time.time) -> Middleware:
    """The limiter as a pipeline stage; concurrency leases are given back when the call ends."""

    def middleware(next_: Handler) -> Handler:
        def run(call: Call) -> ConnectorResult:
            inst = call.instance
            weight = call.capability.weight if call.capability is not None else 1
            decision = state.rate_acquire(
                inst.tenant_id,
                inst.id,
                inst.rate_limits.to_dict(),
                weight,
                clock(),
                call.action.timeout_ms / 1000 + LEASE_SLACK_S,
            )
            tokens = {f"{b.scope}/{b.window}": f"{b.remaining}/{b.capacity}" for b in decision.buckets}
            if not decision.allowed:
                call.explain(
                    "ratelimit",
                    allowed=False,
                    limitType=decision.limit_type,
                    retryAfterMs=decision.retry_after_ms,
                    reason=decision.reason,
                    **tokens,
                )
                wait = (decision.retry_after_ms or 0) / 1000
                return failure(
                    call,
                    RateLimitedError(
                        f"rate limited by the {decision.reason}; retry in {wait:.1f} s",
                        retry_after_ms=decision.retry_after_ms,
                        details={"limitType": decision.limit_type, "instance": inst.name},
                    ),
                )
            call.explain("ratelimit", allowed=True, weight=weight, **(tokens or {"limits": "none"}))
            try:
                return next_(call)
            finally:
                if decision.lease_ids:
                    state.rate_release(inst.tenant_id, decision.lease_ids)

        return run

    return middleware
