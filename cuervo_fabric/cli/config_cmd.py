"""``cuervo-fabric config ...``: show and change the TOML configuration."""

from __future__ import annotations

from typing import Annotated

import typer

from cuervo_fabric.cli import _render
from cuervo_fabric.cli._app import new_app
from cuervo_fabric.cli._state import state

__all__ = ["app"]

app = new_app(
    "Show and change configuration (profiles, vault and webhook settings).\n\n"
    "Example: [bold]cuervo-fabric config set profiles.local.tenant acme[/bold]"
)


@app.command("show")
def show() -> None:
    """Show the effective configuration and where each value comes from.

    Example: cuervo-fabric --json config show
    """
    from cuervo_fabric.config import load_settings

    settings = load_settings(profile=state.profile, tenant=state.tenant)
    data = settings.to_dict()
    _render.emit(data, lambda: _render.kv("Configuration", list(data.items())))


@app.command("set")
def set_(
    key: Annotated[str, typer.Argument(help="Dotted key, e.g. vault.strict or profiles.ci.tenant.")],
    value: Annotated[str, typer.Argument(help="The value (true/false for switches).")],
) -> None:
    """Set one configuration value (validated before the file is written).

    Example: cuervo-fabric config set vault.strict true
    """
    from cuervo_fabric.config import paths, set_value

    set_value(key, value)
    _render.emit(
        {"key": key, "value": value, "file": str(paths().config_file)},
        lambda: _render.info(f"Set {key} = {value} in {paths().config_file}"),
    )


@app.command("profiles")
def profiles() -> None:
    """List the configured profiles.

    Example: cuervo-fabric config profiles
    """
    from cuervo_fabric.config import load_settings

    settings = load_settings(profile=state.profile, tenant=state.tenant)
    rows = [
        {"name": n, "active": n == settings.profile.name, **p.to_dict()}
        for n, p in settings.profiles().items()
    ]
    _render.emit(
        rows,
        lambda: _render.table(
            "Profiles",
            ["name", "active", "type", "tenant", "store"],
            [
                (
                    r["name"],
                    "*" if r["active"] else "",
                    r["type"],
                    r["tenant"],
                    r.get("database_url") or r.get("database") or r.get("url") or "default",
                )
                for r in rows
            ],
        ),
    )
