"""Stage 3: rate limits, per tenant and per instance, shared by every process through the store.

Each limit is a token bucket whose tokens all come back when its window ends (``requestsPerMinute``
refills a minute after the window's first call, like the providers' own remaining/reset counters),
so "10 per minute" never lets an 11th call through within that minute and ``retryAfterMs`` is the
exact time to the refill. A call costs its action's weight (most 1, search 5, bulk 10; never more
than a bucket holds). ``concurrentRequests`` is a count of leases that expire after the call's
timeout. A provider's stored ``blocked_until`` refuses calls first, in every process.

A process that makes many calls (the server, a script using the SDK) takes tokens ahead in small
batches (``TokenReserve``): the store counts them as used at once, so no limit is ever exceeded
across processes, and the process spends them without a write per call. A batch is at most 2% of
a bucket's capacity (none for small limits, so "10 per minute" is exact token by token), starts
at zero (a CLI call's single request takes exactly its weight) and grows while the process keeps
calling. Unspent tokens go back to the store when the process closes or the limits change; a
process that crashes loses them until the window ends (never more than the batch).

Refusals are ``RATE_LIMITED`` with ``retryAfterMs`` and ``limitType``: ``tenant``, ``connector``
(the instance's own limits) or ``external`` (the provider's).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from cuervo_fabric.domain.gateway import RateDecision
from cuervo_fabric.domain.models import ConnectorResult, RateLimits
from cuervo_fabric.errors import RateLimitedError
from cuervo_fabric.gateway.circuit import LEASE_SLACK_S
from cuervo_fabric.gateway.pipeline import Call, Handler, Middleware, failure

if TYPE_CHECKING:
    from cuervo_fabric.ports import GatewayState

__all__ = ["MAX_BATCH", "TokenReserve", "ratelimit_stage"]

_UNLIMITED = RateDecision(allowed=True)

#: The most tokens a process takes ahead from one bucket.
MAX_BATCH = 256
#: ... and never more than 1/SHARE of the bucket's capacity.
SHARE = 50


class _Lot:
    """Tokens in hand for one tenant/instance and one set of limits."""

    __slots__ = ("caps", "decision", "ends", "left")

    def __init__(self, caps: tuple[int, ...], left: int, ends: float, decision: RateDecision) -> None:
        self.caps = caps
        self.left = left
        #: The instant the first of the buckets' windows ends (tokens then are worth nothing).
        self.ends = ends
        self.decision = decision


class TokenReserve:
    """Tokens a process took ahead from the store, spent one call at a time (thread-safe)."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state
        self._lots: dict[tuple[str, str], _Lot] = {}
        #: (tenant, instance) -> (the limits the next batch is for, its size)
        self._next: dict[tuple[str, str], tuple[tuple[int, ...], int]] = {}
        self._lock = threading.Lock()

    def acquire(
        self,
        tenant_id: str,
        instance_id: str,
        limits: RateLimits,
        tenant_limits: Mapping[str, int],
        weight: int,
        now: float,
        lease_s: float,
    ) -> RateDecision:
        """Spend ``weight`` from the tokens in hand, else take a new batch (or be refused).

        Not for limits with ``concurrentRequests`` (a lease per call): use ``rate_acquire``.
        """
        caps = (
            limits.requests_per_minute,
            limits.requests_per_hour,
            tenant_limits.get("requestsPerMinute", 0),
            tenant_limits.get("requestsPerHour", 0),
        )
        if not any(caps):
            return _UNLIMITED
        key = (tenant_id, instance_id)
        with self._lock:
            lot = self._lots.get(key)
            if lot is not None and lot.caps == caps and lot.left >= weight and now < lot.ends:
                lot.left -= weight
                return lot.decision
            stale = self._lots.pop(key, None)
            planned = self._next.get(key)
            extra = planned[1] if planned is not None and planned[0] == caps else 0
        if stale is not None:
            self._give_back(tenant_id, stale)
        decision = self.state.rate_acquire(
            tenant_id, instance_id, limits.to_dict(), weight, now, lease_s, reserve=extra
        )
        surplus = None
        with self._lock:
            ceiling = min(MAX_BATCH, min(c for c in caps if c > 0) // SHARE)
            self._next[key] = (caps, min(ceiling, max(1, extra * 2)) if decision.allowed else 0)
            if decision.allowed and decision.reserved > 0:
                ends = min(start + period for _, period, start in decision.windows)
                surplus = self._lots.get(key)  # another thread took a batch meanwhile
                self._lots[key] = _Lot(caps, decision.reserved, ends, decision)
        if surplus is not None:
            self._give_back(tenant_id, surplus)
        return decision

    def held(self, tenant_id: str, instance_id: str) -> int:
        """Tokens this process holds for an instance (``--explain``)."""
        lot = self._lots.get((tenant_id, instance_id))
        return lot.left if lot is not None else 0

    def _give_back(self, tenant_id: str, lot: _Lot) -> None:
        # A bucket whose window moved on is left alone by the store (its tokens came back anyway).
        if lot.left > 0:
            self.state.rate_give_back(tenant_id, lot.decision.windows, lot.left)

    def release_all(self) -> None:
        """Give every unspent token back (the process is closing)."""
        with self._lock:
            lots, self._lots = self._lots, {}
        for (tenant_id, _), lot in lots.items():
            self._give_back(tenant_id, lot)


def ratelimit_stage(
    state: GatewayState, clock: Callable[[], float] = time.time, reserve: TokenReserve | None = None
) -> Middleware:
    """The limiter as a pipeline stage; concurrency leases are given back when the call ends.

    With ``reserve`` and a fresh ``call.view`` (no provider block in force, no concurrency limit),
    tokens come from the process's reserve; otherwise every call goes to the store.
    """

    def middleware(next_: Handler) -> Handler:
        def run(call: Call) -> ConnectorResult:
            inst = call.instance
            cap = call.capability
            weight = cap.weight if cap is not None else 1
            now = clock()
            lease_s = call.action.timeout_ms / 1000 + LEASE_SLACK_S
            limits = inst.rate_limits
            view = call.view
            if (
                reserve is not None
                and view is not None
                and (view.blocked_until is None or view.blocked_until <= now)
                and not limits.concurrent_requests
                and not view.tenant_limits.get("concurrentRequests")
            ):
                decision = reserve.acquire(
                    inst.tenant_id, inst.id, limits, view.tenant_limits, weight, now, lease_s
                )
            else:
                decision = state.rate_acquire(inst.tenant_id, inst.id, limits.to_dict(), weight, now, lease_s)
            if not decision.allowed:
                tokens = {f"{b.scope}/{b.window}": f"{b.remaining}/{b.capacity}" for b in decision.buckets}
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
            if call.trace is not None:
                tokens = {f"{b.scope}/{b.window}": f"{b.remaining}/{b.capacity}" for b in decision.buckets}
                if reserve is not None and decision.reserved:
                    # Figures as the store gave them with the batch; this process spends from it.
                    tokens["heldByThisProcess"] = str(reserve.held(inst.tenant_id, inst.id))
                    tokens["figuresAsOf"] = "batch"
                call.explain("ratelimit", allowed=True, weight=weight, **(tokens or {"limits": "none"}))
            try:
                return next_(call)
            finally:
                if decision.lease_ids:
                    state.rate_release(inst.tenant_id, decision.lease_ids)

        return run

    return middleware
