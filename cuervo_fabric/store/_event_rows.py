"""Mapping between event/webhook rows and domain records, shared by the SQLite and PostgreSQL
adapters (JSON and time columns come back as text from SQLite, decoded from PostgreSQL)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cuervo_fabric.domain.models import IntegrationEvent
from cuervo_fabric.domain.subscriptions import (
    EventDelivery,
    RetryPolicy,
    Sealed,
    StoredEvent,
    Subscriber,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookSubscription,
)
from cuervo_fabric.store._rows import json_value, time_text

__all__ = [
    "DELIVERY_COLS",
    "EVENT_COLS",
    "attempt_from_row",
    "delivery_from_row",
    "endpoint_from_row",
    "event_from_row",
    "subscriber_from_row",
    "subscription_from_row",
]

EVENT_COLS = (
    "seq, id, tenant_id, type, source, data, correlation_id, connector_id, connector_version,"
    " created_at, original_webhook_id, target_subscriber"
)
DELIVERY_COLS = (
    "id, subscriber_id, tenant_id, event_id, event_seq, event_type, status, attempts,"
    " next_attempt_at, lease_owner, last_error, last_status, created_at, updated_at"
)


def event_from_row(row: Mapping[str, Any]) -> StoredEvent:
    return StoredEvent(
        seq=int(row["seq"]),
        event=IntegrationEvent(
            id=row["id"],
            type=row["type"],
            source=row["source"],
            tenant_id=row["tenant_id"],
            timestamp=time_text(row["created_at"]) or "",
            data=json_value(row["data"]),
            correlation_id=row["correlation_id"] or "",
            connector_id=row["connector_id"],
            connector_version=row["connector_version"] or "",
            original_webhook_id=row["original_webhook_id"],
        ),
        target_subscriber=row["target_subscriber"],
    )


def subscriber_from_row(row: Mapping[str, Any]) -> Subscriber:
    return Subscriber(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        patterns=tuple(json_value(row["patterns"])),
        tenant_id=row["tenant_id"],
        ordered=bool(row["ordered"]),
        concurrency=int(row["concurrency"]),
        policy=RetryPolicy.from_dict(json_value(row["retry_policy"])),
        cursor_seq=int(row["cursor_seq"]),
        active=bool(row["active"]),
        created_at=time_text(row["created_at"]) or "",
    )


def delivery_from_row(row: Mapping[str, Any]) -> EventDelivery:
    return EventDelivery(
        id=int(row["id"]),
        subscriber_id=row["subscriber_id"],
        tenant_id=row["tenant_id"],
        event_id=row["event_id"],
        event_seq=int(row["event_seq"]),
        event_type=row["event_type"],
        status=row["status"],
        attempts=int(row["attempts"]),
        next_attempt_at=float(row["next_attempt_at"]),
        lease_owner=row["lease_owner"],
        last_error=row["last_error"],
        last_status=row["last_status"],
        created_at=time_text(row["created_at"]) or "",
        updated_at=time_text(row["updated_at"]) or "",
    )


def subscription_from_row(row: Mapping[str, Any]) -> WebhookSubscription:
    return WebhookSubscription(
        id=row["id"],
        tenant_id=row["tenant_id"],
        url=row["url"],
        events=tuple(json_value(row["events"])),
        active=bool(row["active"]),
        header_names=tuple(json_value(row["custom_headers"]) or {}),
        policy=RetryPolicy.from_dict(json_value(row["retry_policy"])),
        timeout_ms=int(row["timeout_ms"]),
        created_by=row["created_by"],
        created_at=time_text(row["created_at"]) or "",
        sealed=Sealed(bytes(row["sealed_secrets"]), bytes(row["sealed_key"]), row["sealed_key_id"]),
        secret_hash=row["secret_hash"],
        description=row["description"] or "",
        disabled_reason=row["disabled_reason"],
        last_delivery_at=time_text(row["last_delivery_at"]),
        total_deliveries=int(row["total_deliveries"]),
        total_failures=int(row["total_failures"]),
    )


def attempt_from_row(row: Mapping[str, Any]) -> WebhookAttempt:
    return WebhookAttempt(
        id=row["id"],
        subscription_id=row["subscription_id"],
        tenant_id=row["tenant_id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        url=row["url"],
        attempt=int(row["attempt"]),
        success=bool(row["success"]),
        delivered_at=time_text(row["delivered_at"]) or "",
        duration_ms=int(row["duration_ms"] or 0),
        response_status=row["response_status"],
        response_body=row["response_body"],
        error=row["error"],
        request_headers=dict(json_value(row["request_headers"]) or {}),
        request_body=row["request_body"] or "",
        delivery_id=row["delivery_id"],
    )


def endpoint_from_row(row: Mapping[str, Any]) -> WebhookEndpoint:
    return WebhookEndpoint(
        instance_id=row["instance_id"],
        tenant_id=row["tenant_id"],
        connector_id=row["connector_id"],
        token_hash=row["token_hash"],
        sealed=Sealed(bytes(row["sealed_secret"]), bytes(row["sealed_key"]), row["sealed_key_id"]),
        secret_source=row["secret_source"],
        created_at=time_text(row["created_at"]) or "",
        updated_at=time_text(row["updated_at"]) or "",
        last_received_at=time_text(row["last_received_at"]),
        total_received=int(row["total_received"]),
    )
