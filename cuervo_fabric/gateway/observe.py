"""The outermost stage: metrics, an audit row and usage counters for every call, refusals included.

Processes are short-lived, so everything lands in the store. ``Telemetry`` buffers the records of a
process and writes them in one transaction: when the CLI call ends (``Fabric.close``); in a
long-running process every ``max_batch`` calls or ``max_age_s`` seconds, from a writer thread. A
record never holds a secret or a body: codes, counts, durations, ids and the provider's figures.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from cuervo_fabric.domain.gateway import CallRecord, ProviderLimit
from cuervo_fabric.domain.models import ConnectorResult
from cuervo_fabric.errors import FabricError, InternalError
from cuervo_fabric.gateway.pipeline import Call, Handler, Middleware, failure

if TYPE_CHECKING:
    from cuervo_fabric.ports import GatewayState

__all__ = ["Telemetry", "observe_stage"]


class Telemetry:
    """Buffers call records and writes them in batches.

    In a CLI process the batch is written when the command ends. A long-running process calls
    ``start_background`` with a factory for a state on its own connection: a daemon thread then
    writes the batches, so no call waits for them.
    """

    def __init__(self, state: GatewayState, *, max_batch: int = 256, max_age_s: float = 1.0) -> None:
        self.state = state
        self.max_batch = max_batch
        self.max_age_s = max_age_s
        self._buffer: list[CallRecord] = []
        self._first = 0.0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None

    def record(self, rec: CallRecord) -> None:
        with self._lock:
            if not self._buffer:
                self._first = time.monotonic()
            self._buffer.append(rec)
            due = len(self._buffer) >= self.max_batch or time.monotonic() - self._first >= self.max_age_s
        if due:
            if self._thread is not None:
                self._wake.set()
            else:
                self.flush()

    def _take(self) -> list[CallRecord]:
        with self._lock:
            batch, self._buffer = self._buffer, []
        return batch

    def flush(self) -> None:
        batch = self._take()
        if batch:
            self.state.record_calls(batch)

    def start_background(
        self,
        open_state: Callable[[], tuple[GatewayState, Callable[[], None]]],
        after_batch: Callable[[], None] | None = None,
    ) -> None:
        """Write batches from a daemon thread with its own state (``(state, close)``);
        ``after_batch`` runs in that thread after each batch (store housekeeping)."""
        if self._thread is not None:
            return
        state, close = open_state()

        def loop() -> None:
            try:
                while True:
                    self._wake.wait(self.max_age_s)
                    self._wake.clear()
                    batch = self._take()
                    if batch:
                        try:
                            state.record_calls(batch)
                            if after_batch is not None:
                                after_batch()
                        except Exception as exc:  # noqa: BLE001 - keep the writer alive
                            sys.stderr.write(f"warning: could not record metrics and audit rows: {exc}\n")
                    if self._stop:
                        return
            finally:
                close()

        self._thread = threading.Thread(target=loop, name="cuervo-fabric-telemetry", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Write what is left; never raises (it runs after the command's output), it warns instead."""
        if self._thread is not None:
            self._stop = True
            self._wake.set()
            self._thread.join(timeout=30)
            self._thread = None
        try:
            self.flush()
        except Exception as exc:  # noqa: BLE001 - the call itself already succeeded or failed
            sys.stderr.write(f"warning: could not record metrics and audit rows: {exc}\n")


def observe_stage(sink: Callable[[CallRecord], None], clock: Callable[[], float] = time.time) -> Middleware:
    """Stage 10, outermost so it sees every outcome; an unexpected exception becomes ``INTERNAL``."""

    def middleware(next_: Handler) -> Handler:
        def run(call: Call) -> ConnectorResult:
            try:
                result = next_(call)
            except FabricError as exc:
                result = failure(call, exc)
            except Exception as exc:  # noqa: BLE001 - the gateway answers, it does not raise
                result = failure(call, InternalError(f"gateway failure: {type(exc).__name__}: {exc}"))
            meta = result.metadata
            # success; refused when nothing went out (a stage said no); else error
            status = "success" if result.success else "refused" if meta.api_calls == 0 else "error"
            if call.trace is not None:
                call.explain("observe", status=status, durationMs=round(meta.duration_ms, 3))
            tight: ProviderLimit | None = None  # the provider's limit with the fewest calls left
            for lim in call.provider_limits.values():
                if lim.remaining is not None and (tight is None or lim.remaining < (tight.remaining or 0)):
                    tight = lim
            inst = call.instance
            sink(
                CallRecord(
                    tenant_id=inst.tenant_id,
                    instance_id=inst.id,
                    instance_name=inst.name,
                    connector_id=inst.connector_id,
                    user_id=call.action.user_id,
                    action="health.check" if call.health else call.action.action,
                    status=status,
                    error_code=None if result.success else str((result.error or {}).get("code")),
                    duration_ms=meta.duration_ms,
                    attempts=meta.attempts,
                    api_calls=meta.api_calls,
                    cached=meta.cached,
                    trace_id=call.action.trace_id,
                    at=clock(),
                    rate_limit_remaining=meta.rate_limit_remaining,
                    rate_limit_limit=tight.limit if tight is not None else None,
                    rate_limit_reset_at=meta.rate_limit_reset_at,
                    provider_limits=tuple(call.provider_limits.values()),
                )
            )
            return result

        return run

    return middleware
