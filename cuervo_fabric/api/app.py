"""``create_app``: the ASGI application ``serve`` runs.

A Starlette app holds the routes (``/healthz`` today; the REST API grows here) and the lifespan;
in front of it a small dispatcher sends webhook POSTs straight to the receiver, the hot path (see
``routes/webhooks.py`` for why). Start-up opens the receiver's writer thread (its own store
connection) and, unless turned off, a delivery worker thread for outgoing webhooks (another
connection), woken as soon as received events commit.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cuervo_fabric.api.routes import webhooks
from cuervo_fabric.bootstrap import Fabric
from cuervo_fabric.webhooks.ingest import IngestQueue

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DeliveryWorker", "FabricApp", "create_app"]

#: GitHub caps webhook payloads at 25 MB; most providers send far less.
DEFAULT_MAX_BODY_BYTES = 25 * 1024 * 1024


class DeliveryWorker:
    """Outgoing webhook deliveries in a background thread, on a fabric (and store) of its own."""

    def __init__(self, fabric: Fabric, **options: Any) -> None:
        self._fabric = Fabric(fabric.settings)
        self._fabric.http_transport = fabric.http_transport
        self._options = options
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dispatcher: Any = None

    def start(self) -> None:
        self.dispatcher = self._fabric.webhook_dispatcher(**self._options)
        self._thread = threading.Thread(target=self._run, name="cuervo-deliver", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.dispatcher.run(stop=self._stop)
            except Exception as exc:  # noqa: BLE001 - keep delivering after a transient failure
                sys.stderr.write(f"webhook delivery: {type(exc).__name__}: {exc}; retrying\n")
                self._stop.wait(1.0)

    def wake(self, _count: int = 0) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake.set()

    def stop(self) -> None:
        self._stop.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.dispatcher is not None:
            self.dispatcher.close()
        self._fabric.close()


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


class FabricApp:
    """The ASGI entry point: webhook POSTs to the receiver, everything else to Starlette."""

    def __init__(self, app: Starlette, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope["app_state"] = self.state
            if scope["method"] == "POST" and scope["path"].startswith(webhooks.PREFIX):
                await webhooks.receive(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(
    fabric: Fabric,
    *,
    deliver: bool = True,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    delivery_options: dict[str, Any] | None = None,
) -> FabricApp:
    """The server's app: ``GET /healthz``, ``POST /webhooks/<instanceId>/<token>``."""
    state: dict[str, Any] = {"max_body_bytes": max_body_bytes}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        worker = DeliveryWorker(fabric, **(delivery_options or {})) if deliver else None
        if worker is not None:
            worker.start()
        ingest = IngestQueue(fabric.webhook_inbox, on_commit=worker.wake if worker else None)
        ingest.start()
        state["ingest"] = ingest
        try:
            yield
        finally:
            ingest.stop()
            if worker is not None:
                worker.stop()

    app = Starlette(
        routes=[Route("/healthz", health, methods=["GET"]), *webhooks.routes],
        lifespan=lifespan,
    )
    return FabricApp(app, state)
