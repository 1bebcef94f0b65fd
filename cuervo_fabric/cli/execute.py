"""``cuervo-fabric exec`` and ``cuervo-fabric health``: run calls through the gateway."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from cuervo_fabric.cli import _render
from cuervo_fabric.cli._input import parse_pairs, read_json_arg
from cuervo_fabric.cli._state import state
from cuervo_fabric.errors import EXIT_CODES, InvalidInputError

__all__ = ["exec_command", "health_command"]


def _render_trace(trace: list[dict[str, Any]]) -> None:
    sys.stderr.write("explain:\n")
    for step in trace:
        facts = ", ".join(f"{k}={v}" for k, v in step.items() if k != "stage")
        sys.stderr.write(f"  {step['stage']:<16} {facts}\n")


def _start_clock(call: Any) -> None:
    """Load what the pipeline imports lazily, then start the call's clock.

    Each CLI call is a fresh process: without this, durationMs, the audit row and the latency
    histogram would count this process's imports (httpx, the crypto stack) as provider latency.
    """
    import time

    import httpx  # noqa: F401

    import cuervo_fabric.gateway.http

    if call.instance.auth_type != "none":
        import cuervo_fabric.vault._crypto  # noqa: F401
    call.started = time.perf_counter()


def exec_command(
    instance: Annotated[str, typer.Argument(help="Instance id or name.")],
    action: Annotated[str, typer.Argument(help="Action id, e.g. request or pr.create.")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A parameter as KEY=VALUE (repeatable).", metavar="KEY=VALUE"),
    ] = None,
    params: Annotated[
        str | None, typer.Option("--params", help="Parameters as JSON, @FILE or - (stdin).")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="Lets the gateway retry POST-like calls."),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0.001, help="Seconds for the whole call, retries included."),
    ] = 30.0,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Bypass the response cache.")] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Trace every pipeline stage on stderr (or in --json).")
    ] = False,
    stream: Annotated[
        bool, typer.Option("--stream", help="Print the action's events as JSON lines.")
    ] = False,
) -> None:
    """Run one connector action through the gateway pipeline.

    Example: cuervo-fabric exec api request -p method=GET -p path=/health --json
    """
    values: dict[str, Any] = read_json_arg(params)
    values.update(parse_pairs(param, "--param"))
    fabric = state.fabric()
    call = fabric.gateway.new_call(
        instance,
        action,
        values,
        timeout_ms=int(timeout * 1000),
        idempotency_key=idempotency_key,
        no_cache=no_cache,
        explain=explain,
    )
    _start_clock(call)
    if stream:
        call.streaming = True

        def print_event(event: dict[str, Any]) -> None:
            sys.stdout.write(json.dumps(event) + "\n")
            sys.stdout.flush()

        call.on_event = print_event
    result = fabric.gateway.run(call)
    payload = result.to_dict()
    if explain and state.json:
        payload["explain"] = call.trace
    elif explain:
        _render_trace(call.trace or [])
    if stream:
        if not result.success:
            sys.stdout.write(json.dumps({"type": "error", "error": result.error}) + "\n")
    elif state.json:
        sys.stdout.write(_render.dump_json(payload) + "\n")
    elif result.success:
        data = result.data
        sys.stdout.write((data if isinstance(data, str) else _render.dump_json(data)) + "\n")
        if result.metadata.cached:
            sys.stderr.write("(served from cache)\n")
    else:
        err = result.error or {}
        sys.stderr.write(f"Error [{err.get('code')}]: {err.get('message')}\n")
    if not result.success:
        raise typer.Exit(EXIT_CODES.get(str((result.error or {}).get("code")), 1))


def health_command(
    instance: Annotated[str | None, typer.Argument(help="Instance (default: all in the tenant).")] = None,
) -> None:
    """Run health checks through the pipeline and record each instance's health.

    Example: cuervo-fabric health api
    """
    fabric = state.fabric()
    if instance:
        targets = [fabric.lifecycle.resolve(fabric.tenant, instance)]
    else:
        from cuervo_fabric.domain.models import InstanceStatus

        targets = [
            i
            for i in fabric.lifecycle.instances(fabric.tenant)
            if i.status
            not in (
                InstanceStatus.INSTALLED,
                InstanceStatus.AUTHENTICATING,
                InstanceStatus.UNINSTALLING,
            )
        ]
        if not targets:
            raise InvalidInputError("no authenticated instances to check in this tenant")
    rows: list[dict[str, Any]] = []
    worst = 0
    for inst in targets:
        call = fabric.gateway.new_call(inst.id, "health.check")
        call.health = True
        _start_clock(call)
        result = fabric.gateway.run(call)
        if result.success:
            report = dict(result.data)
        else:
            err = result.error or {}
            code = err.get("code")
            if code in ("AUTH_REQUIRED", "INVALID_STATE", "UNKNOWN_ACTION"):
                report = {"status": "skipped", "details": {"lastError": err.get("message")}}
            else:
                report = {
                    "status": "degraded" if code in ("RATE_LIMITED", "CIRCUIT_OPEN") else "unhealthy",
                    "details": {"lastError": err.get("message"), "code": code},
                }
        status = str(report["status"])
        if status != "skipped":
            from cuervo_fabric.domain.timeutil import now_iso

            last_error = (report.get("details") or {}).get("lastError")
            inst = fabric.lifecycle.record_health(
                inst, status, report.get("checkedAt") or now_iso(), last_error
            )
        worst = max(worst, {"healthy": 0, "skipped": 0, "degraded": 1, "unhealthy": 2}[status])
        rows.append(
            {
                "instance": inst.name,
                "instanceId": inst.id,
                "instanceStatus": inst.status.value,
                **report,
            }
        )
    _render.emit(
        rows if instance is None else rows[0],
        lambda: _render.table(
            "Health",
            ["instance", "health", "status", "latency ms", "error"],
            [
                (
                    r["instance"],
                    r["status"],
                    r["instanceStatus"],
                    r.get("latencyMs", ""),
                    (r.get("details") or {}).get("lastError") or "",
                )
                for r in rows
            ],
        ),
    )
    if worst == 2:
        raise typer.Exit(EXIT_CODES["UPSTREAM_ERROR"])
