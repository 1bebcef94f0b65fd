"""The connector lifecycle use cases: install, update, pause, resume, upgrade, uninstall, ...

Every state change is checked against the domain's state machine and written with a conditional
update on the status read, so two processes racing on one instance cannot both win, and a refused
command writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from cuervo_fabric.domain import lifecycle
from cuervo_fabric.domain.models import (
    ConnectorInstance,
    ConnectorSpec,
    Features,
    InstanceStatus,
    RateLimits,
)
from cuervo_fabric.domain.schema import validate
from cuervo_fabric.domain.timeutil import now_iso
from cuervo_fabric.errors import InvalidInputError, InvalidStateError, NotFoundError
from cuervo_fabric.ports import ConnectorRegistry, Store

__all__ = ["LifecycleService", "missing_required"]

S = InstanceStatus
_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def missing_required(spec: ConnectorSpec, settings: dict[str, Any]) -> list[str]:
    """Required top-level settings not given (what ``install`` asks for interactively)."""
    schema = spec.config_schema
    props = schema.get("properties", {})
    return [
        key
        for key in schema.get("required", [])
        if key not in settings and "default" not in props.get(key, {})
    ]


class LifecycleService:
    """Install and move connector instances through their lifecycle, one tenant at a time."""

    def __init__(
        self,
        store: Store,
        registry: ConnectorRegistry,
        *,
        user: str = "local",
        revoke: Callable[[ConnectorInstance], None] | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.user = user
        self._revoke = revoke

    # ------------------------------------------------------------------ queries
    def instances(self, tenant: str, *, include_uninstalled: bool = False) -> list[ConnectorInstance]:
        return self.store.list_instances(tenant, include_uninstalled=include_uninstalled)

    def resolve(self, tenant: str, ref: str, *, include_uninstalled: bool = False) -> ConnectorInstance:
        """Find an instance by id, name, unique id prefix, or a connector id with one instance."""
        if not ref:
            raise InvalidInputError("an INSTANCE reference is required", details={"field": "instance"})
        exact = self.store.get_instance(tenant, ref)
        if exact is not None:
            return exact
        live = self.store.list_instances(tenant, include_uninstalled=include_uninstalled)
        by_name = [i for i in live if i.name == ref]
        by_connector = [i for i in live if i.connector_id == ref]
        by_prefix = [i for i in live if len(ref) >= 4 and i.id.startswith(ref)]
        matches = {i.id: i for i in [*by_name, *by_connector, *by_prefix]}
        if len(matches) == 1:
            return next(iter(matches.values()))
        if not matches:
            raise NotFoundError(
                f"no instance {ref!r} in tenant {tenant!r} (see: cuervo-fabric connector list)",
                details={"instance": ref},
            )
        names = ", ".join(f"{i.name} ({i.id[:8]})" for i in matches.values())
        raise InvalidInputError(
            f"{ref!r} matches {len(matches)} instances: {names}; use the instance name or id",
            details={"field": "instance", "matches": [i.id for i in matches.values()]},
        )

    # ------------------------------------------------------------------ install / update
    def validate_settings(
        self, spec: ConnectorSpec, settings: dict[str, Any], *, coerce: bool
    ) -> dict[str, Any]:
        result: dict[str, Any] = validate(spec.config_schema, settings, coerce_text=coerce)
        auth = spec.auth_type_for(result)
        if auth not in spec.auth_types:
            raise InvalidInputError(
                f"auth type {auth!r} is not supported by {spec.id}", details={"field": "auth_type"}
            )
        return result

    def install(
        self,
        tenant: str,
        connector_id: str,
        settings: dict[str, Any],
        *,
        name: str | None = None,
        rate_limits: dict[str, int | None] | None = None,
        version: str | None = None,
        coerce: bool = True,
    ) -> ConnectorInstance:
        spec = self.registry.get(connector_id, version)
        clean = self.validate_settings(spec, settings, coerce=coerce)
        limits = _merge_limits(spec.default_rate_limits, rate_limits or {})
        live = self.store.list_instances(tenant)
        if name is None:
            taken = {i.name for i in live}
            name, n = connector_id, 2
            while name in taken:
                name, n = f"{connector_id}-{n}", n + 1
        _check_name(name)
        now = now_iso()
        instance = ConnectorInstance(
            id=uuid.uuid4().hex,
            tenant_id=tenant,
            connector_id=spec.id,
            name=name,
            version=version or spec.version,
            status=S.INSTALLED,
            settings=clean,
            auth_type=spec.auth_type_for(clean),
            rate_limits=limits,
            features=Features(webhooks_enabled=spec.receives_webhooks),
            installed_at=now,
            installed_by=self.user,
            updated_at=now,
            granted_capabilities=tuple(c.id for c in spec.capabilities),
        )
        self.store.insert_instance(instance)
        return instance

    def update(
        self,
        tenant: str,
        ref: str,
        *,
        settings: dict[str, Any] | None = None,
        unset: list[str] | None = None,
        rate_limits: dict[str, int | None] | None = None,
        name: str | None = None,
        coerce: bool = True,
    ) -> ConnectorInstance:
        inst = self.resolve(tenant, ref)
        if inst.status in (S.UNINSTALLING, S.UNINSTALLED):
            raise InvalidStateError(f"instance {inst.name!r} is {inst.status.value}; cannot update")
        spec = self.registry.get(inst.connector_id)
        changes: dict[str, Any] = {}
        if settings or unset:
            merged = {**inst.settings, **(settings or {})}
            for key in unset or []:
                if key not in merged:
                    raise InvalidInputError(f"{key}: not set", details={"field": key})
                merged.pop(key)
            clean = self.validate_settings(spec, merged, coerce=coerce)
            new_auth = spec.auth_type_for(clean)
            if new_auth != inst.auth_type:
                raise InvalidInputError(
                    f"changing auth_type from {inst.auth_type} to {new_auth} needs a new instance "
                    "(install another, then uninstall this one)",
                    details={"field": "auth_type"},
                )
            changes["settings"] = clean
        if rate_limits:
            changes["rate_limits"] = _merge_limits(inst.rate_limits, rate_limits)
        if name is not None and name != inst.name:
            _check_name(name)
            changes["name"] = name
        if not changes:
            raise InvalidInputError("nothing to update: give --set, --unset, --name or a rate-limit flag")
        changes["updated_at"] = now_iso()
        return self._write(inst, changes, expected=inst.status)

    # ------------------------------------------------------------------ transitions
    def transition(
        self,
        inst: ConnectorInstance,
        target: InstanceStatus,
        *,
        reason: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> ConnectorInstance:
        """Move ``inst`` to ``target`` if the machine allows it and nobody moved it first."""
        lifecycle.check_transition(inst.status, target, instance=inst.name)
        changes: dict[str, Any] = {
            "status": target,
            "status_reason": reason,
            "updated_at": now_iso(),
        }
        if target is S.ERROR:
            changes["last_error"] = reason
            changes["last_error_at"] = changes["updated_at"]
        changes.update(extra or {})
        return self._write(inst, changes, expected=inst.status)

    def _write(
        self, inst: ConnectorInstance, changes: dict[str, Any], *, expected: InstanceStatus
    ) -> ConnectorInstance:
        updated = self.store.update_instance(inst.tenant_id, inst.id, changes, expected_status=expected)
        if updated is None:
            now = self.store.get_instance(inst.tenant_id, inst.id)
            state = now.status.value if now else "gone"
            raise InvalidStateError(
                f"instance {inst.name!r} changed while this command ran (now {state}); try again",
                details={"currentStatus": state},
            )
        return updated

    def pause(self, tenant: str, ref: str, reason: str | None = None) -> ConnectorInstance:
        inst = self.resolve(tenant, ref)
        return self.transition(inst, S.PAUSED, reason=reason or "paused by " + self.user)

    def resume(self, tenant: str, ref: str) -> ConnectorInstance:
        inst = self.resolve(tenant, ref)
        if inst.status is not S.PAUSED:
            raise InvalidStateError(
                f"instance {inst.name!r} is {inst.status.value}; only a paused instance resumes",
                details={"currentStatus": inst.status.value, "targetStatus": "active"},
            )
        return self.transition(inst, S.ACTIVE)

    def begin_auth(self, inst: ConnectorInstance) -> ConnectorInstance:
        return self.transition(inst, S.AUTHENTICATING, reason="authentication in progress")

    def finish_auth(
        self, inst: ConnectorInstance, *, ok: bool, error: str | None = None
    ) -> ConnectorInstance:
        if ok:
            return self.transition(inst, S.ACTIVE)
        return self.transition(inst, S.ERROR, reason=error or "authentication failed")

    def record_health(
        self, inst: ConnectorInstance, status: str, checked_at: str, error: str | None
    ) -> ConnectorInstance:
        """Store a health result and move active/degraded/error instances accordingly."""
        extra: dict[str, Any] = {"last_health_status": status, "last_health_check_at": checked_at}
        target = {"healthy": S.ACTIVE, "degraded": S.DEGRADED, "unhealthy": S.ERROR}.get(status)
        if (
            target is not None
            and inst.status in (S.ACTIVE, S.DEGRADED, S.ERROR)
            and target is not inst.status
        ) and lifecycle.can_transition(inst.status, target):
            return self.transition(inst, target, reason=error, extra=extra)
        if error:
            extra.update(last_error=error, last_error_at=checked_at)
        extra["updated_at"] = now_iso()
        return self._write(inst, extra, expected=inst.status)

    def upgrade(self, tenant: str, ref: str, target_version: str | None = None) -> ConnectorInstance:
        inst = self.resolve(tenant, ref)
        if inst.status in (S.UNINSTALLING, S.UNINSTALLED):
            raise InvalidStateError(f"instance {inst.name!r} is {inst.status.value}; cannot upgrade")
        spec = self.registry.get(inst.connector_id)
        target = target_version or spec.version
        self.registry.get(inst.connector_id, target)
        if target == inst.version:
            raise InvalidInputError(
                f"instance {inst.name!r} is already at version {target}",
                details={"field": "version"},
            )
        cls = self.registry.load(inst.connector_id)
        migrated = cls.on_upgrade(inst.version, target, dict(inst.settings))
        clean = self.validate_settings(spec, migrated, coerce=False)
        return self._write(
            inst,
            {"version": target, "settings": clean, "updated_at": now_iso()},
            expected=inst.status,
        )

    def uninstall(self, tenant: str, ref: str) -> ConnectorInstance:
        inst = self.resolve(tenant, ref)
        inst = self.transition(inst, S.UNINSTALLING, reason="uninstall requested by " + self.user)
        if self._revoke is not None:
            self._revoke(inst)
        self.store.purge_instance_data(tenant, inst.id)
        return self.transition(inst, S.UNINSTALLED, reason=None, extra={"settings": {}})


def _check_name(name: str) -> None:
    if not name or len(name) > 64 or not set(name) <= _NAME_OK:
        raise InvalidInputError(
            f"invalid instance name {name!r}: use 1-64 letters, digits, '-', '_' or '.'",
            details={"field": "name"},
        )


def _merge_limits(base: RateLimits, given: dict[str, int | None]) -> RateLimits:
    data = base.to_dict()
    for key, value in given.items():
        if value is None:
            continue
        if key not in data:
            raise InvalidInputError(f"unknown rate limit {key!r}", details={"field": key})
        if value < 0:
            raise InvalidInputError(f"{key} must be a whole number >= 0", details={"field": key})
        data[key] = value
    return RateLimits.from_dict(data)
