"""``cuervo-fabric audit list``: one row per gateway call (never a secret, never a body)."""

from __future__ import annotations

from typing import Annotated

import typer

from cuervo_fabric.cli import _render
from cuervo_fabric.cli._app import new_app
from cuervo_fabric.cli._state import state

__all__ = ["app"]

app = new_app(
    "The audit log: who called what, when, with which outcome.\n\n"
    "Example: [bold]cuervo-fabric audit list --status error --since 1h[/bold]"
)


@app.command("list")
def list_(
    instance: Annotated[str | None, typer.Option("--instance", help="Only this instance.")] = None,
    action: Annotated[str | None, typer.Option("--action", help="Only this action id.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="success, error or refused (nothing was sent).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="ISO-8601 time or a look-back: 30m, 2h, 7d.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many rows, newest first.")] = 50,
) -> None:
    """List audit rows of the tenant's calls, newest first (--json adds trace ids and provider figures).

    Example: cuervo-fabric --json audit list --instance api --since 2h
    """
    fabric = state.fabric()
    inst = fabric.lifecycle.resolve(fabric.tenant, instance, include_uninstalled=True) if instance else None
    rows = fabric.gateway_admin.audit(
        fabric.tenant, instance=inst, action=action, status=status, since=since, limit=limit
    )
    _render.emit(
        rows,
        lambda: _render.table(
            "Audit log (newest first)",
            ["UTC", "user", "instance", "action", "status", "code", "ms", "tries"],
            [
                (
                    r["at"][5:19].replace("T", " "),
                    r["user"],
                    r["instance"],
                    r["action"],
                    "cached" if r["cached"] else r["status"],
                    r["errorCode"] or "",
                    round(r["durationMs"]),
                    r["attempts"],
                )
                for r in rows
            ],
        ),
    )
