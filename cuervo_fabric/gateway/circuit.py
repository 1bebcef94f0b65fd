"""Stage 2: the circuit breaker, one per instance, shared by every process through the store.

Closed: calls go out; ``failureThreshold`` consecutive failures open it. Open: calls fail at once
with ``CIRCUIT_OPEN`` and ``retryAfterMs``, nothing is sent. After ``timeout`` it is half-open: at
most ``halfOpenMaxRequests`` probes at a time (each holds a lease that expires, so a crashed
process frees its slot); ``successThreshold`` successful probes close it, one failed probe opens it
again. Failures are 5xx (529 included), timeouts and connection errors; a 429 is the rate
limiter's business, and 4xx answers are the caller's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cuervo_fabric.domain.gateway import CircuitConfig, CircuitSnapshot, circuit_defaults
from cuervo_fabric.domain.models import ConnectorResult
from cuervo_fabric.errors import CircuitOpenError
from cuervo_fabric.gateway.pipeline import Call, Handler, Middleware, failure

if TYPE_CHECKING:
    from cuervo_fabric.ports import GatewayState

__all__ = ["LEASE_SLACK_S", "circuit_stage", "counts_as_failure"]

#: A lease outlives its call's timeout by this much, then expires (a crashed process).
LEASE_SLACK_S = 5.0


def counts_as_failure(result: ConnectorResult, *, health: bool = False) -> bool:
    """Whether an outcome trips the breaker: 5xx/529, timeouts, connection errors."""
    if result.success:
        if health and isinstance(result.data, dict):
            return not (result.data.get("details") or {}).get("serviceReachable", True)
        return False
    error = result.error or {}
    code = error.get("code")
    if code == "TIMEOUT":
        return True
    if code == "UPSTREAM_ERROR":
        status = error.get("status")
        return status is None or int(status) >= 500
    return False


def circuit_stage(state: GatewayState, clock: Callable[[], float] = time.time) -> Middleware:
    """The breaker as a pipeline stage (refusals never reach the connector)."""

    def middleware(next_: Handler) -> Handler:
        def run(call: Call) -> ConnectorResult:
            inst = call.instance
            view = call.view
            probe_lease: str | None = None
            config: CircuitConfig | None = None
            if view is not None and (view.circuit is None or view.circuit.state == "closed"):
                # Closed, as of the store's latest change: nothing to write, nothing to read.
                snap = view.circuit or _NEVER_TRIPPED
            else:
                admission = state.circuit_admit(
                    inst.tenant_id,
                    inst.id,
                    circuit_defaults(call.spec.metadata.category),
                    clock(),
                    call.action.timeout_ms / 1000 + LEASE_SLACK_S,
                )
                snap, config, probe_lease = admission.snapshot, admission.config, admission.probe_lease
                if not admission.allowed:
                    call.explain(
                        "circuit",
                        allowed=False,
                        retryAfterMs=admission.retry_after_ms,
                        state=snap.state,
                        failures=f"{snap.failure_count}/{config.failure_threshold}",
                    )
                    return failure(call, _open_error(call, admission.retry_after_ms, snap.state, snap.reason))
            if call.trace is not None:
                config = config or circuit_defaults(call.spec.metadata.category).with_overrides(
                    snap.overrides
                )
                facts: dict[str, Any] = {
                    "state": snap.state,
                    "failures": f"{snap.failure_count}/{config.failure_threshold}",
                }
                if probe_lease is not None:
                    facts["probe"] = f"{snap.probes_in_flight}/{config.half_open_max_requests}"
                    facts["successes"] = f"{snap.success_count}/{config.success_threshold}"
                call.explain("circuit", allowed=True, **facts)
            result = next_(call)
            failed = (not result.success or call.health) and counts_as_failure(result, health=call.health)
            if probe_lease is not None or failed or snap.failure_count > 0:
                config = config or circuit_defaults(call.spec.metadata.category).with_overrides(
                    snap.overrides
                )
                after = state.circuit_record(
                    inst.tenant_id,
                    inst.id,
                    config,
                    failed=failed,
                    probe_lease=probe_lease,
                    now=clock(),
                )
                if after.state != snap.state:
                    call.explain("circuit", transition=f"{snap.state} -> {after.state}", reason=after.reason)
            return result

        return run

    return middleware


_NEVER_TRIPPED = CircuitSnapshot()


def _open_error(call: Call, retry_after_ms: int | None, state: str, reason: str | None) -> CircuitOpenError:
    name = call.instance.name
    when = f"; retry in {retry_after_ms / 1000:.1f} s" if retry_after_ms is not None else ""
    why = f" ({reason})" if reason else ""
    if state == "half_open":
        text = f"the circuit of {name!r} is half-open and its probe slots are taken{why}{when}"
    elif retry_after_ms is None:
        text = f"the circuit of {name!r} was opened by hand{why}: run `cuervo-fabric circuit close {name}`"
    else:
        text = f"the circuit of {name!r} is open{why}{when}"
    return CircuitOpenError(
        text,
        retry_after_ms=retry_after_ms,
        details={"instance": name, "circuitState": state},
    )
