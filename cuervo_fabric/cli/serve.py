"""``cuervo-fabric serve``: the webhook receiver and delivery worker (later the REST API) under uvicorn."""

from __future__ import annotations

import json
import socket
import sys
from typing import Annotated

import typer

from cuervo_fabric.cli._state import state
from cuervo_fabric.errors import InvalidInputError

__all__ = ["serve_command"]


def serve_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0: a free one).")] = 8080,
    deliver: Annotated[
        bool,
        typer.Option("--deliver/--no-deliver", help="Also deliver outgoing webhooks from this process."),
    ] = True,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", min=1, help="Largest webhook body accepted (413 above).")
    ] = 25 * 1024 * 1024,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Concurrent outgoing POSTs.")] = 8,
    lease_seconds: Annotated[
        float,
        typer.Option(
            "--lease-seconds", min=0.1, help="How long a delivery is held before another worker may retry it."
        ),
    ] = 60.0,
) -> None:
    """Run the server: POST /webhooks/<instanceId>/<token> receives provider webhooks.

    Prints the URL it listens on (a JSON line with --json), then serves until Ctrl-C.

    Example: cuervo-fabric serve --host 0.0.0.0 --port 8080
    """
    import uvicorn

    from cuervo_fabric.api.app import create_app

    fabric = state.fabric()
    fabric.event_store.max_seq()  # open and migrate the store before taking traffic
    app = create_app(
        fabric,
        deliver=deliver,
        max_body_bytes=max_body_bytes,
        delivery_options={"workers": workers, "lease_s": lease_seconds},
    )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it every keep-alive response waits 40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InvalidInputError(
            f"cannot listen on {host}:{port}: {exc.strerror}", details={"field": "port"}
        ) from exc
    sock.listen(2048)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    url = f"http://{shown}:{bound}"
    if state.json:
        sys.stdout.write(json.dumps({"url": url, "host": host, "port": bound}) + "\n")
    else:
        sys.stdout.write(f"cuervo-fabric serve: listening on {url} (webhooks at {url}/webhooks/...)\n")
    sys.stdout.flush()
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        server_header=False,
    )
    uvicorn.Server(config).run(sockets=[sock])
