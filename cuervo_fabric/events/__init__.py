"""The durable event bus: an outbox on the store, pattern subscriptions, leases, replay and a DLQ."""

from __future__ import annotations

from cuervo_fabric.events.bus import EventBus, Handler, SubscribeOptions

__all__ = ["EventBus", "Handler", "SubscribeOptions"]
