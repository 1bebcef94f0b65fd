"""``cuervo-fabric circuit ...``: see and steer each instance's circuit breaker."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cuervo_fabric.cli import _render
from cuervo_fabric.cli._app import new_app
from cuervo_fabric.cli._state import state

__all__ = ["app"]

app = new_app(
    "Circuit breakers: one per instance, shared by every process.\n\n"
    "Example: [bold]cuervo-fabric circuit status api[/bold]"
)


def _show(rows: list[dict[str, Any]], single: bool) -> None:
    def human() -> None:
        _render.table(
            "Circuit breakers",
            ["instance", "state", "failures", "successes", "probing at", "reason"],
            [
                (
                    r["instance"],
                    r["state"] + (" (forced)" if r["forced"] else ""),
                    f"{r['failureCount']}/{r['config']['failureThreshold']}",
                    f"{r['successCount']}/{r['config']['successThreshold']}",
                    (r["nextRetryAt"] or "")[5:19].replace("T", " "),
                    r["reason"] or "",
                )
                for r in rows
            ],
        )

    _render.emit(rows[0] if single else rows, human)


@app.command("status")
def status(
    instance: Annotated[str | None, typer.Argument(help="Instance (default: all in the tenant).")] = None,
) -> None:
    """Show each breaker's state, counts, next retry time and effective settings.

    Example: cuervo-fabric --json circuit status api
    """
    fabric = state.fabric()
    targets = (
        [fabric.lifecycle.resolve(fabric.tenant, instance)]
        if instance
        else fabric.lifecycle.instances(fabric.tenant)
    )
    _show(fabric.gateway_admin.circuit_status(targets), instance is not None)


@app.command("open")
def open_(
    instance: Annotated[str, typer.Argument(help="Instance id or name.")],
    for_: Annotated[
        float | None,
        typer.Option("--for", help="Seconds to stay open, then half-open (default: until closed)."),
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (shown in status and errors).")] = "",
) -> None:
    """Force the breaker open: calls fail with CIRCUIT_OPEN and nothing is sent.

    Example: cuervo-fabric circuit open api --for 600 --reason "provider maintenance"
    """
    fabric = state.fabric()
    inst = fabric.lifecycle.resolve(fabric.tenant, instance)
    _show([fabric.gateway_admin.circuit_open(inst, for_, reason)], True)


@app.command("close")
def close(
    instance: Annotated[str, typer.Argument(help="Instance id or name.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in status).")] = "",
) -> None:
    """Force the breaker closed: calls go out again and failure counts start over.

    Example: cuervo-fabric circuit close api
    """
    fabric = state.fabric()
    inst = fabric.lifecycle.resolve(fabric.tenant, instance)
    _show([fabric.gateway_admin.circuit_close(inst, reason)], True)


@app.command("configure")
def configure(
    instance: Annotated[str, typer.Argument(help="Instance id or name.")],
    failure_threshold: Annotated[
        int | None, typer.Option("--failure-threshold", help="Consecutive failures that open it.")
    ] = None,
    success_threshold: Annotated[
        int | None, typer.Option("--success-threshold", help="Successful probes that close it.")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds open before probing (half-open).")
    ] = None,
    half_open_max: Annotated[
        int | None, typer.Option("--half-open-max", help="Probes allowed at the same time.")
    ] = None,
    reset: Annotated[
        bool, typer.Option("--reset", help="Go back to the category defaults (then apply the others).")
    ] = False,
) -> None:
    """Override the connector category's breaker defaults for one instance.

    Example: cuervo-fabric circuit configure api --failure-threshold 3 --timeout 10
    """
    fabric = state.fabric()
    inst = fabric.lifecycle.resolve(fabric.tenant, instance)
    view = fabric.gateway_admin.circuit_configure(
        inst,
        failure_threshold=failure_threshold,
        success_threshold=success_threshold,
        timeout_s=timeout,
        half_open_max_requests=half_open_max,
        reset=reset,
    )
    _show([view], True)
