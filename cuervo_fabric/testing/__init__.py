"""The public test kit for connector authors (and for cuervo-fabric's own tests).

``LoopbackServer`` is a real HTTP server on 127.0.0.1 with scripted routes that records every
request, so a connector's requests go over a real socket through the real gateway.

Example:
    >>> from cuervo_fabric.testing import LoopbackServer, Reply
    >>> with LoopbackServer() as server:  # doctest: +SKIP
    ...     server.route("GET", "/items", Reply(200, {"items": []}))
    ...     ...
"""

from __future__ import annotations

from cuervo_fabric.testing._loopback import LoopbackServer, RecordedRequest, Reply

__all__ = ["LoopbackServer", "RecordedRequest", "Reply"]
