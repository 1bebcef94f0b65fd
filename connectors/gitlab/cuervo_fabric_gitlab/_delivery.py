"""``webhook.receive``: what the fabric makes of one delivery, for scripts and debugging.

The real receiver is ``cuervo-fabric serve``; this action runs the same declaration (verifier,
event type, delivery id) over a delivery given as parameters, so a saved delivery can be checked.
"""

from __future__ import annotations

from typing import Any

from cuervo_fabric.sdk import IncomingWebhook, WebhookSpec

__all__ = ["describe_delivery"]


def describe_delivery(spec: WebhookSpec, params: dict[str, Any]) -> dict[str, Any]:
    """Verify (when ``secret`` is given) and route a delivery: ``{eventType, deliveryId, verified, data}``.

    A wrong signature raises ``AUTH_FAILED``; a malformed delivery ``INVALID_INPUT``.
    """
    req = IncomingWebhook.build(dict(params["headers"]), str(params["body"]).encode())
    secret = params.get("secret")
    if secret:
        spec.verifier.verify(str(secret), req)
    return {
        "eventType": spec.event_type(req),
        "deliveryId": spec.delivery_id(req),
        "verified": bool(secret),
        "data": spec.data(req),
    }
