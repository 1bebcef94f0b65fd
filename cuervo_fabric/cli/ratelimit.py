"""``cuervo-fabric ratelimit ...``: local limits per tenant and instance, and what providers said."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cuervo_fabric.cli import _render
from cuervo_fabric.cli._app import new_app
from cuervo_fabric.cli._state import state

__all__ = ["app"]

app = new_app(
    "Rate limits: token buckets per tenant and per instance, plus the providers' own limits.\n\n"
    "Instance limits are set with `connector install/update --requests-per-minute ...`; "
    "tenant-wide limits with `ratelimit set`.\n\n"
    "Example: [bold]cuervo-fabric ratelimit status api[/bold]"
)


def _bucket_text(buckets: list[dict[str, Any]]) -> str:
    return ", ".join(
        f"{b['remaining']}/{b['capacity']} per {b['window']}"
        + (f" (refills {b['resetAt']})" if b.get("resetAt") else "")
        for b in buckets
    )


@app.command("status")
def status(
    instance: Annotated[str | None, typer.Argument(help="Instance (default: all in the tenant).")] = None,
) -> None:
    """Show tokens left in every bucket, when they refill, and the provider's figures and blocks.

    Example: cuervo-fabric --json ratelimit status api
    """
    fabric = state.fabric()
    targets = (
        [fabric.lifecycle.resolve(fabric.tenant, instance)]
        if instance
        else fabric.lifecycle.instances(fabric.tenant)
    )
    report = fabric.gateway_admin.rate_status(fabric.tenant, targets)

    def human() -> None:
        rows = [("(tenant)", _bucket_text(report["tenantBuckets"]) or "unlimited", "")]
        for inst in report["instances"]:
            provider = "; ".join(
                f"{p['resource']}: {p['remaining']}/{p['limit'] if p['limit'] is not None else '?'}"
                + (f" blocked until {p['blockedUntil']} ({p['reason']})" if p["blockedUntil"] else "")
                for p in inst["provider"]
            )
            rows.append((inst["instance"], _bucket_text(inst["buckets"]) or "unlimited", provider))
        _render.table(f"Rate limits in tenant {report['tenant']!r}", ["instance", "local", "provider"], rows)

    _render.emit(report, human)


@app.command("set")
def set_(
    requests_per_minute: Annotated[
        int | None, typer.Option("--requests-per-minute", help="Tenant-wide calls per minute (0: none).")
    ] = None,
    requests_per_hour: Annotated[
        int | None, typer.Option("--requests-per-hour", help="Tenant-wide calls per hour (0: none).")
    ] = None,
    concurrent_requests: Annotated[
        int | None,
        typer.Option("--concurrent-requests", help="Tenant-wide calls in flight at once (0: none)."),
    ] = None,
) -> None:
    """Set the tenant-wide limits, shared by all of the tenant's instances (stored in the store).

    Example: cuervo-fabric --tenant acme ratelimit set --requests-per-minute 600
    """
    fabric = state.fabric()
    limits = fabric.gateway_admin.set_tenant_limits(
        fabric.tenant,
        requests_per_minute=requests_per_minute,
        requests_per_hour=requests_per_hour,
        concurrent_requests=concurrent_requests,
    )
    _render.emit(
        {"tenant": fabric.tenant, "limits": limits},
        lambda: _render.kv(f"Tenant {fabric.tenant!r} limits", list(limits.items())),
    )


@app.command("reset")
def reset(instance: Annotated[str, typer.Argument(help="Instance id or name.")]) -> None:
    """Refill an instance's buckets and forget its concurrency leases and provider blocks.

    Example: cuervo-fabric ratelimit reset api
    """
    fabric = state.fabric()
    inst = fabric.lifecycle.resolve(fabric.tenant, instance)
    fabric.gateway_admin.rate_reset(inst)
    _render.emit(
        {"instance": inst.name, "instanceId": inst.id, "reset": True},
        lambda: _render.info(f"Rate-limit state of {inst.name} reset."),
    )
