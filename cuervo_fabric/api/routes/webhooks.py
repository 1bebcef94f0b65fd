"""``POST /webhooks/<instanceId>/<token>``: the provider webhook receiver.

The body is read as raw bytes (signatures cover the exact bytes) up to the size limit, then handed
to the group-commit writer, which verifies it with the instance's connector verifier, drops
replays and duplicates, stores the event, and only then lets this answer ``202`` (``200`` for a
duplicate). Unknown endpoint or wrong token: ``404``; bad or stale signature: ``401``; malformed:
``400``; too large: ``413``. A refused request writes nothing.

It is a plain ASGI handler, not a Starlette endpoint: it is the server's hot path, and Starlette's
request, response and middleware layers cost about as much as the whole receiver (measured with
``bench webhooks``). ``api.app`` routes webhook POSTs here before Starlette; other methods on the
same path reach the Starlette route below (405).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.routing import Route

from cuervo_fabric.sdk._webhooks import IncomingWebhook

__all__ = ["PREFIX", "receive", "routes"]

PREFIX = "/webhooks/"
MAX_ID = 128

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def _answer(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _error(send: Send, status: int, message: str) -> None:
    await _answer(send, status, {"accepted": False, "eventId": None, "eventType": None, "error": message})


async def receive(scope: Scope, receive: Receive, send: Send) -> None:
    """The receiver, as an ASGI app."""
    parts = scope["path"][len(PREFIX) :].split("/")
    if len(parts) != 2 or not all(0 < len(p) <= MAX_ID for p in parts):
        await _error(send, 404, "unknown webhook endpoint")
        return
    instance_id, token = parts
    state = scope["app_state"]
    limit: int = state["max_body_bytes"]
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            await _error(send, 400, "invalid Content-Length")
            return
        if int(declared) > limit:
            await _error(send, 413, f"the body is larger than {limit} bytes")
            return
    body = bytearray()
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        more = bool(message.get("more_body"))
        if len(body) > limit:
            await _error(send, 413, f"the body is larger than {limit} bytes")
            return
    if not body:
        await _error(send, 400, "the body is empty")
        return
    incoming = IncomingWebhook(
        headers,
        bytes(body),
        instance_id=instance_id,
        method=scope["method"],
        path=scope["path"],
        received_at=time.time(),
    )
    result = await state["ingest"].submit(incoming, token)
    await _answer(send, result.status, result.to_dict())


class _Endpoint:
    """The same handler as a Starlette route endpoint (so other methods get 405)."""

    async def __call__(self, scope: Scope, receive_: Receive, send: Send) -> None:
        await receive(scope, receive_, send)


routes = [Route(PREFIX + "{instance_id}/{token}", _Endpoint(), methods=["POST"], name="webhooks.receive")]
