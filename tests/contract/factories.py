"""Factories of fully populated domain objects for the store tests."""

from __future__ import annotations

import uuid
from typing import Any

from cuervo_fabric.domain.models import ConnectorInstance, Features, InstanceStatus, RateLimits
from cuervo_fabric.domain.timeutil import iso
from cuervo_fabric.ports import CredentialRecord

__all__ = ["make_credential", "make_instance"]

S = InstanceStatus
_seq = iter(range(1, 1_000_000))


def make_instance(
    tenant: str = "acme",
    name: str = "work",
    *,
    connector: str = "http",
    status: InstanceStatus = S.INSTALLED,
    **fields: Any,
) -> ConnectorInstance:
    """A fully populated instance; install times increase with each call."""
    n = next(_seq)
    at = f"{iso(1_767_000_000 + n)[:-8]}.{n % 1_000_000:06d}Z"
    values: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "tenant_id": tenant,
        "connector_id": connector,
        "name": name,
        "version": "1.0.0",
        "status": status,
        "settings": {"base_url": "http://127.0.0.1:1", "nested": {"b": [1, 2.5, None], "a": "ñ✓"}},
        "auth_type": "none",
        "rate_limits": RateLimits(requests_per_minute=60, concurrent_requests=4),
        "features": Features(webhooks_enabled=True),
        "installed_at": at,
        "installed_by": "alice",
        "updated_at": at,
        "granted_capabilities": ("request", "health"),
        "denied_capabilities": ("admin",),
    }
    values.update(fields)
    return ConnectorInstance(**values)


def make_credential(inst: ConnectorInstance, **fields: Any) -> CredentialRecord:
    values: dict[str, Any] = {
        "instance_id": inst.id,
        "tenant_id": inst.tenant_id,
        "credential_type": "bearer_token",
        "encrypted_data": b"\x00\xffcipher\x01",
        "wrapped_key": b"wrapped\x00key",
        "encryption_key_id": "k1",
        "expires_at": 1_900_000_000.25,
        "refreshed_at": 1_800_000_000.123456,
        "created_at": 1_700_000_000.5,
        "metadata": {"scopes": ["repo", "read:org"], "tokenType": "Bearer"},
    }
    values.update(fields)
    return CredentialRecord(**values)
