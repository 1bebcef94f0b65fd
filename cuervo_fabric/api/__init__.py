"""The fabric's HTTP server (``cuervo-fabric serve``): an ASGI app on Starlette, run by uvicorn.

Today it receives provider webhooks and drives outgoing deliveries; the remote-fabric REST API
grows here too, one module per noun under ``routes/``.
"""

from __future__ import annotations

__all__: list[str] = []
