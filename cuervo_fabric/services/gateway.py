"""Operating the gateway: circuit breakers, rate limits, metrics and the audit log.

The use cases behind ``circuit``, ``ratelimit``, ``metrics`` and ``audit list``; the pipeline's
stages themselves live in ``cuervo_fabric.gateway``.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from typing import Any

from cuervo_fabric.domain.gateway import (
    DURATION_BUCKETS_MS,
    WINDOWS,
    CircuitConfig,
    CircuitSnapshot,
    circuit_defaults,
)
from cuervo_fabric.domain.models import ConnectorInstance
from cuervo_fabric.domain.timeutil import iso, parse_iso
from cuervo_fabric.errors import InvalidInputError, NotFoundError
from cuervo_fabric.ports import ConnectorRegistry, GatewayState

__all__ = ["AUDIT_STATUSES", "METRICS", "GatewayAdmin", "parse_since", "prometheus_text"]

AUDIT_STATUSES = ("success", "error", "refused")

#: name -> (type, help) of every metric ``metrics`` prints (the seed's table).
METRICS: dict[str, tuple[str, str]] = {
    "connector_requests_total": ("counter", "Connector calls by outcome (success, error, refused)."),
    "connector_request_duration_ms": ("histogram", "Duration of connector calls in milliseconds."),
    "connector_errors_total": ("counter", "Failed connector calls by error code."),
    "connector_circuit_state": ("gauge", "Circuit breaker state: 0 closed, 1 half-open, 2 open."),
    "connector_rate_limit_remaining": (
        "gauge",
        "Tokens left: local buckets (scope connector) and the provider's own (scope external).",
    ),
    "connector_credential_expiry_seconds": ("gauge", "Seconds until the stored credential expires."),
}

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)$")


def parse_since(text: str, now: float | None = None) -> float:
    """``--since``: an ISO-8601 time, or a look-back like ``30m``, ``2h``, ``7d``; epoch seconds."""
    value = text.strip()
    match = _RELATIVE.match(value)
    if match:
        seconds = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
        return (time.time() if now is None else now) - seconds
    try:
        return parse_iso(value)
    except ValueError:
        raise InvalidInputError(
            f"--since takes an ISO-8601 time or a look-back like 30m, 2h or 7d, not {text!r}",
            details={"field": "since"},
        ) from None


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _label_text(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


_LABEL_ORDER = ("tenant", "connector", "instance", "action", "status", "error_code", "scope", "window", "le")


def _ordered(labels: dict[str, str]) -> dict[str, str]:
    keys = sorted(labels, key=lambda k: (_LABEL_ORDER.index(k) if k in _LABEL_ORDER else 99, k))
    return {k: labels[k] for k in keys}


def group_samples(samples: list[tuple[str, dict[str, str], float]]) -> list[dict[str, Any]]:
    """Samples grouped per metric family, histograms made cumulative, in a stable order."""
    families: dict[str, dict[str, Any]] = {
        name: {"name": name, "type": typ, "help": help_, "samples": []}
        for name, (typ, help_) in METRICS.items()
    }
    hist: dict[tuple[tuple[str, str], ...], dict[str, float]] = {}
    for name, labels, value in samples:
        if name.startswith("connector_request_duration_ms_"):
            part = name.rsplit("_", 1)[1]
            base = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            entry = hist.setdefault(base, {})
            if part == "bucket":
                entry["le:" + labels["le"]] = entry.get("le:" + labels["le"], 0.0) + value
            else:
                entry[part] = entry.get(part, 0.0) + value
            continue
        family = families.get(name)
        if family is None:
            continue
        family["samples"].append({"name": name, "labels": _ordered(labels), "value": value})
    duration = families["connector_request_duration_ms"]
    bounds = [str(int(b)) for b in DURATION_BUCKETS_MS] + ["+Inf"]
    for base, entry in sorted(hist.items()):
        labels = dict(base)
        running = 0.0
        for le in bounds:
            running += entry.get("le:" + le, 0.0)
            duration["samples"].append(
                {
                    "name": "connector_request_duration_ms_bucket",
                    "labels": _ordered({**labels, "le": le}),
                    "value": running,
                }
            )
        for part in ("sum", "count"):
            duration["samples"].append(
                {
                    "name": f"connector_request_duration_ms_{part}",
                    "labels": _ordered(labels),
                    "value": entry.get(part, 0.0),
                }
            )
    return list(families.values())


def prometheus_text(samples: list[tuple[str, dict[str, str], float]]) -> str:
    """The Prometheus text exposition format (version 0.0.4)."""
    lines: list[str] = []
    for family in group_samples(samples):
        lines.append(f"# HELP {family['name']} {family['help']}")
        lines.append(f"# TYPE {family['name']} {family['type']}")
        for s in family["samples"]:
            lines.append(f"{s['name']}{_label_text(s['labels'])} {_number(s['value'])}")
    return "\n".join(lines) + "\n"


class GatewayAdmin:
    """Inspect and steer the gateway's shared state, one tenant at a time."""

    def __init__(
        self,
        state: GatewayState,
        registry: ConnectorRegistry,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.registry = registry
        self.clock = clock

    # ------------------------------------------------------------------ circuit breaker
    def _defaults(self, inst: ConnectorInstance) -> CircuitConfig:
        try:
            category = str(self.registry.get(inst.connector_id).metadata.category)
        except NotFoundError:  # the connector's package is gone; its state is still shown
            category = "custom"
        return circuit_defaults(category)

    def _circuit_view(self, inst: ConnectorInstance, snap: CircuitSnapshot) -> dict[str, Any]:
        now = self.clock()
        config = self._defaults(inst).with_overrides(snap.overrides)
        state = snap.state
        if state == "open" and snap.next_retry_at is not None and now >= snap.next_retry_at:
            state = "half_open"  # the next call is a probe
        return {
            "instance": inst.name,
            "instanceId": inst.id,
            "state": state,
            "failureCount": snap.failure_count,
            "successCount": snap.success_count,
            "lastFailureAt": iso(snap.last_failure_at) if snap.last_failure_at else None,
            "lastSuccessAt": iso(snap.last_success_at) if snap.last_success_at else None,
            "openedAt": iso(snap.opened_at) if snap.opened_at else None,
            "nextRetryAt": iso(snap.next_retry_at) if snap.next_retry_at else None,
            "reason": snap.reason,
            "forced": snap.forced,
            "probesInFlight": snap.probes_in_flight,
            "config": config.to_dict(),
            "overrides": {k: v for k, v in snap.overrides.items() if v is not None},
        }

    def circuit_status(self, instances: list[ConnectorInstance]) -> list[dict[str, Any]]:
        return [self._circuit_view(i, self.state.circuit_get(i.tenant_id, i.id)) for i in instances]

    def circuit_open(self, inst: ConnectorInstance, seconds: float | None, reason: str) -> dict[str, Any]:
        """``forceOpen``: no call goes out until ``seconds`` pass (then half-open) or ``close``."""
        if seconds is not None and not 0 < seconds <= 30 * 86400:
            raise InvalidInputError("--for takes 1 second to 30 days", details={"field": "for"})
        now = self.clock()
        text = f"forced open: {reason}" if reason else "forced open"
        snap = self.state.circuit_force(
            inst.tenant_id,
            inst.id,
            open=True,
            until=None if seconds is None else now + seconds,
            reason=text,
            now=now,
        )
        return self._circuit_view(inst, snap)

    def circuit_close(self, inst: ConnectorInstance, reason: str) -> dict[str, Any]:
        """``forceClose``: calls go out again; failure counts start over."""
        snap = self.state.circuit_force(
            inst.tenant_id, inst.id, open=False, until=None, reason=reason, now=self.clock()
        )
        return self._circuit_view(inst, snap)

    def circuit_configure(
        self,
        inst: ConnectorInstance,
        *,
        failure_threshold: int | None = None,
        success_threshold: int | None = None,
        timeout_s: float | None = None,
        half_open_max_requests: int | None = None,
        reset: bool = False,
    ) -> dict[str, Any]:
        """Override the category defaults for one instance (validated before anything is stored)."""
        current = self.state.circuit_get(inst.tenant_id, inst.id)
        given: dict[str, int | None] = {
            "failure_threshold": failure_threshold,
            "success_threshold": success_threshold,
            "timeout_ms": None if timeout_s is None else round(timeout_s * 1000),
            "half_open_max_requests": half_open_max_requests,
        }
        if reset:
            overrides: dict[str, int | None] = dict.fromkeys(given)
            overrides.update({k: v for k, v in given.items() if v is not None})
        else:
            overrides = {k: v for k, v in given.items() if v is not None}
            if not overrides:
                raise InvalidInputError(
                    "give at least one of --failure-threshold, --success-threshold, --timeout, "
                    "--half-open-max or --reset",
                    details={"field": "circuit"},
                )
        merged = {**current.overrides, **overrides}
        self._defaults(inst).with_overrides(merged).validate()
        snap = self.state.circuit_configure(inst.tenant_id, inst.id, overrides, self.clock())
        return self._circuit_view(inst, snap)

    # ------------------------------------------------------------------ rate limits
    def set_tenant_limits(
        self,
        tenant_id: str,
        *,
        requests_per_minute: int | None = None,
        requests_per_hour: int | None = None,
        concurrent_requests: int | None = None,
    ) -> dict[str, int]:
        given = {
            "requestsPerMinute": requests_per_minute,
            "requestsPerHour": requests_per_hour,
            "concurrentRequests": concurrent_requests,
        }
        changes = {k: v for k, v in given.items() if v is not None}
        if not changes:
            raise InvalidInputError(
                "give at least one of --requests-per-minute, --requests-per-hour, --concurrent-requests "
                "(0 removes a limit)",
                details={"field": "limits"},
            )
        for key, value in changes.items():
            if value < 0 or value > 10_000_000:
                raise InvalidInputError(f"{key} must be between 0 and 10000000", details={"field": key})
        return self.state.set_tenant_limits(tenant_id, changes, iso(self.clock()))

    def rate_reset(self, inst: ConnectorInstance) -> None:
        self.state.rate_reset(inst.tenant_id, inst.id)

    def rate_status(self, tenant_id: str, instances: list[ConnectorInstance]) -> dict[str, Any]:
        """Each limit with what is left and when it refills, plus the provider's figures."""
        now = self.clock()
        one = instances[0].id if len(instances) == 1 else None
        raw = self.state.rate_status(tenant_id, one, now)
        buckets = {(b["instance_id"], b["period_s"]): b for b in raw["buckets"]}
        leases: dict[tuple[str, str], int] = raw["leases"]

        def limits_of(key: str, limits: dict[str, int], in_use: int) -> list[dict[str, Any]]:
            out = []
            for window, name in (("minute", "requestsPerMinute"), ("hour", "requestsPerHour")):
                capacity = int(limits.get(name) or 0)
                if capacity <= 0:
                    continue
                row = buckets.get((key, WINDOWS[window]))
                active = row is not None and now < row["window_start"] + WINDOWS[window]
                used = int(row["used"]) if row is not None and active else 0
                out.append(
                    {
                        "window": window,
                        "capacity": capacity,
                        "remaining": max(0, capacity - used),
                        "resetAt": iso(row["window_start"] + WINDOWS[window])
                        if row is not None and active
                        else None,
                    }
                )
            conc = int(limits.get("concurrentRequests") or 0)
            if conc > 0:
                out.append({"window": "concurrent", "capacity": conc, "remaining": max(0, conc - in_use)})
            return out

        tenant_limits = raw["tenantLimits"]
        tenant_leases = sum(n for (scope, _), n in leases.items() if scope == "tenant")
        report: dict[str, Any] = {
            "tenant": tenant_id,
            "tenantLimits": tenant_limits,
            "tenantBuckets": limits_of("", tenant_limits, tenant_leases),
            "instances": [],
        }
        for inst in instances:
            provider = []
            for p in raw["provider"]:
                if p["instance_id"] != inst.id:
                    continue
                blocked = p["blocked_until"] is not None and p["blocked_until"] > now
                provider.append(
                    {
                        "resource": p["resource"],
                        "source": p["source"],
                        "limit": p["limit_value"],
                        "remaining": p["remaining"],
                        "resetAt": iso(p["reset_at"]) if p["reset_at"] else None,
                        "blockedUntil": iso(p["blocked_until"]) if blocked else None,
                        "reason": p["reason"] if blocked else None,
                    }
                )
            limits = inst.rate_limits.to_dict()
            report["instances"].append(
                {
                    "instance": inst.name,
                    "instanceId": inst.id,
                    "limits": limits,
                    "buckets": limits_of(inst.id, limits, leases.get(("instance", inst.id), 0)),
                    "provider": provider,
                }
            )
        return report

    # ------------------------------------------------------------------ metrics and audit
    def metrics(self, tenant_id: str | None) -> list[tuple[str, dict[str, str], float]]:
        return self.state.metric_samples(tenant_id)

    def audit(
        self,
        tenant_id: str,
        *,
        instance: ConnectorInstance | None = None,
        action: str | None = None,
        status: str | None = None,
        since: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        if status is not None and status not in AUDIT_STATUSES:
            raise InvalidInputError(
                f"--status takes one of {', '.join(AUDIT_STATUSES)}, not {status!r}",
                details={"field": "status"},
            )
        if not 1 <= limit <= 10_000:
            raise InvalidInputError("--limit takes 1 to 10000", details={"field": "limit"})
        rows = self.state.audit_rows(
            tenant_id,
            instance_id=instance.id if instance is not None else None,
            action=action,
            status=status,
            since=parse_since(since, self.clock()) if since else None,
            limit=limit,
        )
        return [
            {
                "id": r["id"],
                "at": iso(r["created_at"]),
                "tenant": r["tenant_id"],
                "user": r["user_id"],
                "instance": r["instance_name"],
                "instanceId": r["instance_ref"],
                "connector": r["connector_id"],
                "action": r["action"],
                "status": r["status"],
                "errorCode": r["error_code"],
                "durationMs": r["duration_ms"],
                "attempts": r["attempts"],
                "apiCalls": r["api_calls"],
                "cached": bool(r["cached"]),
                "traceId": r["trace_id"],
                "rateLimitRemaining": r["rate_limit_remaining"],
                "rateLimitLimit": r["rate_limit_limit"],
                "rateLimitResetAt": r["rate_limit_reset_at"],
            }
            for r in rows
        ]
