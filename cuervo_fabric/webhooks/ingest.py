"""Group commit for the webhook receiver.

Requests arrive on the server's event loop; one writer thread takes whatever is queued, verifies
each request and appends the accepted events in **one** transaction, then answers every request of
the batch. Under load many deliveries share a commit (and its fsync). A request is answered 2xx
only after its transaction has committed.

The writer lingers half a millisecond for company before it commits: under load that gathers
several times more requests per commit (and per fsync), which measured 25-45 % more requests per
second; alone, a request waits 0.5 ms longer.
"""

from __future__ import annotations

import asyncio
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Inbox", "IngestQueue"]


class Inbox(Protocol):
    """What the writer thread drives: ``services.webhooks.WebhookInbox``."""

    def receive_batch(self, items: list[tuple[Any, str]]) -> list[Any]: ...

    def unavailable(self, message: str) -> Any: ...

    def close(self) -> None: ...


_STOP = object()


class IngestQueue:
    """A writer thread fed from an asyncio loop."""

    def __init__(
        self,
        make_inbox: Callable[[], Inbox],
        *,
        max_batch: int = 256,
        linger_s: float = 0.0005,
        on_commit: Callable[[int], None] | None = None,
    ) -> None:
        self._make_inbox = make_inbox
        self.max_batch = max_batch
        self.linger_s = linger_s
        self.on_commit = on_commit
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: Exception | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cuervo-ingest", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=10)
            self._thread = None

    async def submit(self, request: Any, token: str) -> Any:
        """Queue one request; resolves when its batch has committed (or was refused)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._queue.put((request, token, loop, fut))
        return await fut

    def _run(self) -> None:
        try:
            inbox = self._make_inbox()
        except Exception as exc:  # noqa: BLE001 - re-raised by start() in the caller's thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                batch = [first]
                # Sleep rather than wait on the queue: a waiting thread would wake (and take the
                # GIL from the event loop) for every request that arrives meanwhile.
                time.sleep(self.linger_s)
                while len(batch) < self.max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        self._queue.put(_STOP)
                        break
                    batch.append(item)
                try:
                    results = inbox.receive_batch([(req, token) for req, token, _, _ in batch])
                except Exception as exc:  # noqa: BLE001 - the store failed: answer 503, write nothing
                    sys.stderr.write(
                        f"webhook receiver: storing a batch failed: {type(exc).__name__}: {exc}\n"
                    )
                    results = [inbox.unavailable("the event store is unavailable; retry later")] * len(batch)
                # One wake-up of the event loop per batch, not per request.
                by_loop: dict[Any, list[tuple[Any, Any]]] = {}
                for (_, _, loop, fut), result in zip(batch, results, strict=True):
                    by_loop.setdefault(loop, []).append((fut, result))
                for loop, pairs in by_loop.items():
                    loop.call_soon_threadsafe(_resolve, pairs)
                if self.on_commit is not None:
                    self.on_commit(len(batch))
        finally:
            inbox.close()


def _resolve(pairs: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for fut, result in pairs:
        if not fut.done():
            fut.set_result(result)
