"""Mapping between domain objects and store rows, shared by every SQL backend."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any

from cuervo_fabric.domain.models import (
    ConnectorInstance,
    ConnectorSpec,
    Features,
    InstanceStatus,
    RateLimits,
)
from cuervo_fabric.errors import AuthFailedError, InvalidInputError

if TYPE_CHECKING:
    from cuervo_fabric.ports import CredentialRecord

__all__ = [
    "INSTANCE_COLUMNS",
    "changed_since",
    "dumps",
    "instance_changes_to_columns",
    "instance_from_row",
    "instance_to_row",
    "json_value",
    "registry_row",
    "retired_key_error",
    "time_text",
]

INSTANCE_COLUMNS = (
    "id",
    "tenant_id",
    "connector_id",
    "display_name",
    "version",
    "status",
    "status_reason",
    "config",
    "auth_type",
    "granted_capabilities",
    "denied_capabilities",
    "rate_limits",
    "features",
    "installed_at",
    "installed_by",
    "updated_at",
    "last_health_check_at",
    "last_health_status",
    "last_error_at",
    "last_error",
    "last_activity_at",
    "total_requests",
    "total_errors",
    "total_latency_ms",
)

# domain field -> (column, encoder)
_FIELD_TO_COLUMN: dict[str, tuple[str, Any]] = {
    "name": ("display_name", None),
    "version": ("version", None),
    "status": ("status", str),
    "status_reason": ("status_reason", None),
    "settings": ("config", "json"),
    "auth_type": ("auth_type", None),
    "granted_capabilities": ("granted_capabilities", "json_list"),
    "denied_capabilities": ("denied_capabilities", "json_list"),
    "rate_limits": ("rate_limits", "to_dict"),
    "features": ("features", "to_dict"),
    "updated_at": ("updated_at", None),
    "last_health_check_at": ("last_health_check_at", None),
    "last_health_status": ("last_health_status", None),
    "last_error_at": ("last_error_at", None),
    "last_error": ("last_error", None),
    "last_activity_at": ("last_activity_at", None),
}


def dumps(value: Any) -> str:
    """Compact, key-sorted JSON (stable bytes, so unchanged rows stay byte-identical)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _encode(value: Any, how: Any) -> Any:
    if how is None:
        return value
    if how is str:
        return str(value)
    if how == "json":
        return dumps(value)
    if how == "json_list":
        return dumps(list(value))
    if how == "to_dict":
        return dumps(value.to_dict())
    raise AssertionError(how)


def instance_changes_to_columns(changes: dict[str, Any]) -> dict[str, Any]:
    """Translate domain field changes to column values."""
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in _FIELD_TO_COLUMN:
            raise InvalidInputError(f"unknown instance field {name!r}")
        column, how = _FIELD_TO_COLUMN[name]
        out[column] = _encode(value, how)
    return out


def instance_to_row(inst: ConnectorInstance) -> dict[str, Any]:
    return {
        "id": inst.id,
        "tenant_id": inst.tenant_id,
        "connector_id": inst.connector_id,
        "display_name": inst.name,
        "version": inst.version,
        "status": str(inst.status),
        "status_reason": inst.status_reason,
        "config": dumps(inst.settings),
        "auth_type": inst.auth_type,
        "granted_capabilities": dumps(list(inst.granted_capabilities)),
        "denied_capabilities": dumps(list(inst.denied_capabilities)),
        "rate_limits": dumps(inst.rate_limits.to_dict()),
        "features": dumps(inst.features.to_dict()),
        "installed_at": inst.installed_at,
        "installed_by": inst.installed_by,
        "updated_at": inst.updated_at,
        "last_health_check_at": inst.last_health_check_at,
        "last_health_status": inst.last_health_status,
        "last_error_at": inst.last_error_at,
        "last_error": inst.last_error,
        "last_activity_at": inst.last_activity_at,
        "total_requests": inst.total_requests,
        "total_errors": inst.total_errors,
        "total_latency_ms": inst.total_latency_ms,
    }


def json_value(value: Any) -> Any:
    """A JSON column's value: PostgreSQL's JSONB comes back decoded, SQLite's TEXT does not."""
    if isinstance(value, str | bytes):
        return json.loads(value) if value else None
    return value


def time_text(value: Any) -> str | None:
    """A time column as the domain's ISO-8601 text (PostgreSQL returns datetimes, SQLite text)."""
    if value is None or isinstance(value, str):
        return value
    return str(value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


_json = json_value


def instance_from_row(row: dict[str, Any]) -> ConnectorInstance:
    return ConnectorInstance(
        id=str(row["id"]),
        tenant_id=row["tenant_id"],
        connector_id=row["connector_id"],
        name=row["display_name"],
        version=row["version"],
        status=InstanceStatus(row["status"]),
        status_reason=row["status_reason"],
        settings=_json(row["config"]),
        auth_type=row["auth_type"],
        granted_capabilities=tuple(_json(row["granted_capabilities"])),
        denied_capabilities=tuple(_json(row["denied_capabilities"])),
        rate_limits=RateLimits.from_dict(_json(row["rate_limits"])),
        features=Features.from_dict(_json(row["features"])),
        installed_at=row["installed_at"],
        installed_by=row["installed_by"],
        updated_at=row["updated_at"],
        last_health_check_at=row["last_health_check_at"],
        last_health_status=row["last_health_status"],
        last_error_at=row["last_error_at"],
        last_error=row["last_error"],
        last_activity_at=row["last_activity_at"],
        total_requests=int(row["total_requests"]),
        total_errors=int(row["total_errors"]),
        total_latency_ms=int(row["total_latency_ms"]),
    )


def registry_row(spec: ConnectorSpec, now: str) -> dict[str, Any]:
    d = spec.to_dict()
    return {
        "id": spec.id,
        "name": spec.metadata.name,
        "description": spec.metadata.description,
        "category": str(spec.metadata.category),
        "vendor": spec.metadata.vendor,
        "latest_version": spec.version,
        "icon_url": spec.metadata.icon,
        "documentation_url": spec.metadata.documentation_url,
        "config_schema": dumps(d["configSchema"]),
        "capabilities": dumps(d["capabilities"]),
        "required_permissions": dumps(d["requiredPermissions"]),
        "is_first_party": spec.first_party,
        "created_at": now,
        "updated_at": now,
    }


def retired_key_error(key_id: str, current: str | None) -> AuthFailedError:
    """A write (a credential, a webhook secret) sealed with a master key ``vault rotate-key``
    replaced (same text on every backend)."""
    return AuthFailedError(
        f"the secret was sealed with master key {key_id}, which a key rotation retired "
        f"(the current key is {current or 'unknown'}); nothing was written",
        details={"reason": "master_key_retired", "keyId": key_id, "currentKeyId": current},
    )


def changed_since(
    rows: Sequence[CredentialRecord], expected: Mapping[tuple[str, str], bytes]
) -> list[CredentialRecord]:
    """The rows a rotation did not read as they are now: written or added since it read them."""
    return [r for r in rows if expected.get((r.tenant_id, r.instance_id)) != r.wrapped_key]
