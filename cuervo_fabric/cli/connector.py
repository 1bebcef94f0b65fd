"""``cuervo-fabric connector ...``: the registry and the lifecycle of installed instances."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cuervo_fabric.cli import _render
from cuervo_fabric.cli._app import new_app
from cuervo_fabric.cli._input import parse_pairs, read_toml_settings
from cuervo_fabric.cli._state import state
from cuervo_fabric.errors import InvalidInputError, NotFoundError

__all__ = ["app", "install"]

app = new_app(
    "Browse the connector registry and manage installed instances.\n\n"
    "Example: [bold]cuervo-fabric connector install github --name work --set org=acme[/bold]"
)

InstanceArg = Annotated[
    str, typer.Argument(help="Instance id, name, or a connector id with exactly one instance.")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="A setting as KEY=VALUE (repeatable).", metavar="KEY=VALUE"),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="TOML file of settings (a [settings] table or top level)."),
]
RpmOpt = Annotated[int | None, typer.Option("--requests-per-minute", min=0, help="Local limit per minute.")]
RphOpt = Annotated[int | None, typer.Option("--requests-per-hour", min=0, help="Local limit per hour.")]
ConcOpt = Annotated[
    int | None, typer.Option("--concurrent-requests", min=0, help="Requests in flight at once.")
]


def _limits(rpm: int | None, rph: int | None, conc: int | None) -> dict[str, int | None]:
    out = {"requestsPerMinute": rpm, "requestsPerHour": rph, "concurrentRequests": conc}
    return {k: v for k, v in out.items() if v is not None}


def _show_instance(inst: Any) -> None:
    d = inst.to_dict()
    _render.emit(
        d,
        lambda: _render.kv(
            f"{inst.name} ({inst.connector_id} {inst.version})",
            [
                ("id", inst.id),
                ("tenant", inst.tenant_id),
                (
                    "status",
                    inst.status.value + (f" ({inst.status_reason})" if inst.status_reason else ""),
                ),
                ("auth type", inst.auth_type),
                ("settings", inst.settings),
                ("rate limits", d["rateLimits"]),
                ("installed", f"{inst.installed_at} by {inst.installed_by}"),
                ("last health", inst.last_health_status or "never checked"),
                ("last error", inst.last_error or ""),
                ("requests", f"{inst.total_requests} ({inst.total_errors} errors)"),
            ],
        ),
    )


def _show_spec(spec: Any) -> None:
    d = spec.to_dict()

    def human() -> None:
        required = spec.config_schema.get("required", [])
        settings = ", ".join(
            f"{k}{'*' if k in required else ''}" for k in spec.config_schema.get("properties", {})
        )
        _render.kv(
            f"{spec.metadata.name} ({spec.id} {spec.version})",
            [
                ("description", spec.metadata.description),
                ("category", d["category"]),
                ("vendor", spec.metadata.vendor),
                ("first party", "yes" if spec.first_party else "no"),
                ("auth types", ", ".join(spec.auth_types)),
                ("versions", ", ".join(d["versions"])),
                ("settings", settings),
                ("permissions", ", ".join(p.scope for p in spec.required_permissions)),
            ],
        )
        _render.table(
            "Capabilities",
            ["action", "description", "weight", "cache ttl", "scopes"],
            [
                (c.id, c.description, c.weight, c.cache_ttl or "", " ".join(c.required_scopes))
                for c in spec.capabilities
            ],
        )

    _render.emit(d, human)


@app.command("available")
def available(
    connector_id: Annotated[str | None, typer.Argument(help="Show one connector in detail.")] = None,
) -> None:
    """List the connectors in the registry (first- and third-party), or show one.

    Example: cuervo-fabric connector available github
    """
    fabric = state.fabric()
    if connector_id:
        _show_spec(fabric.registry.get(connector_id))
        return
    specs = fabric.registry.specs()
    fabric.store.sync_registry(specs)
    for name, problem in fabric.registry.problems.items():
        _render.warn(f"warning: connector {name!r} failed to load: {problem}")
    _render.emit(
        [s.to_dict() for s in specs],
        lambda: _render.table(
            "Available connectors",
            ["id", "version", "category", "name", "auth", "actions", "first party"],
            [
                (
                    s.id,
                    s.version,
                    str(s.metadata.category),
                    s.metadata.name,
                    ",".join(s.auth_types),
                    len(s.capabilities),
                    "yes" if s.first_party else "no",
                )
                for s in specs
            ],
        ),
    )


@app.command("list")
def list_instances(
    all_: Annotated[bool, typer.Option("--all", help="Include uninstalled instances.")] = False,
) -> None:
    """List the instances installed in the tenant.

    Example: cuervo-fabric --json connector list
    """
    fabric = state.fabric()
    items = fabric.lifecycle.instances(fabric.tenant, include_uninstalled=all_)
    _render.emit(
        [i.to_dict() for i in items],
        lambda: (
            _render.table(
                f"Instances in tenant {fabric.tenant!r}",
                ["name", "id", "connector", "version", "status", "auth", "health"],
                [
                    (
                        i.name,
                        i.id[:8],
                        i.connector_id,
                        i.version,
                        i.status.value,
                        i.auth_type,
                        i.last_health_status or "",
                    )
                    for i in items
                ],
            )
            if items
            else _render.info(
                f"No instances in tenant {fabric.tenant!r}. Try: cuervo-fabric connector available"
            )
        ),
    )


@app.command("show")
def show(ref: InstanceArg) -> None:
    """Show an instance (or, when no instance matches, a registry connector).

    Example: cuervo-fabric connector show work
    """
    fabric = state.fabric()
    try:
        inst = fabric.lifecycle.resolve(fabric.tenant, ref, include_uninstalled=True)
    except NotFoundError:
        if ref in fabric.registry.ids():
            _show_spec(fabric.registry.get(ref))
            return
        raise
    _show_instance(inst)


def _ask_missing(spec: Any, settings: dict[str, Any]) -> dict[str, Any]:
    from cuervo_fabric.services.lifecycle import missing_required

    missing = missing_required(spec, settings)
    if not missing:
        return settings
    if not state.interactive:
        field = missing[0]
        raise InvalidInputError(
            f"{field}: required (give --set {field}=VALUE; prompting is off)",
            details={"field": field, "missing": missing},
        )
    import questionary

    props = spec.config_schema.get("properties", {})
    out = dict(settings)
    for key in missing:
        desc = props.get(key, {}).get("description", "")
        answer = questionary.text(f"{key}" + (f" ({desc})" if desc else "") + ":").ask()
        if answer is None:
            raise typer.Abort()
        out[key] = answer
    return out


@app.command("install")
def install(
    connector_id: Annotated[
        str, typer.Argument(help="Registry id (github, http), or a connector project folder (./acme).")
    ],
    name: Annotated[str | None, typer.Option("--name", help="Instance name (unique in the tenant).")] = None,
    set_: SetOpt = None,
    config: ConfigOpt = None,
    version: Annotated[str | None, typer.Option("--version", help="A registered version.")] = None,
    rpm: RpmOpt = None,
    rph: RphOpt = None,
    conc: ConcOpt = None,
    editable: Annotated[
        bool, typer.Option("--editable", "-e", help="With a project folder: pip install --editable.")
    ] = False,
) -> None:
    """Install a connector in the tenant; settings are validated against its config schema.

    Given a project folder (./path), pip-installs it into this environment first, so its
    connector joins the registry through its entry point, then installs it like any other.

    Example: cuervo-fabric connector install http --name api --set base_url=http://127.0.0.1:8000
    """
    from cuervo_fabric.cli import sdk

    if sdk.looks_like_path(connector_id):
        connector_id = sdk.install_local_project(connector_id, editable=editable)
    fabric = state.fabric()
    spec = fabric.registry.get(connector_id, version)
    settings: dict[str, Any] = read_toml_settings(config)
    settings.update(parse_pairs(set_, "--set"))
    settings = _ask_missing(spec, settings)
    inst = fabric.lifecycle.install(
        fabric.tenant,
        connector_id,
        settings,
        name=name,
        rate_limits=_limits(rpm, rph, conc),
        version=version,
    )
    if not state.json:
        _render.info(
            f"Installed {inst.connector_id} as {inst.name!r} ({inst.id}). "
            f"Next: cuervo-fabric auth login {inst.name}"
        )
    _show_instance(inst)


@app.command("update")
def update(
    ref: InstanceArg,
    set_: SetOpt = None,
    unset: Annotated[list[str] | None, typer.Option("--unset", help="Remove a setting (repeatable).")] = None,
    config: ConfigOpt = None,
    name: Annotated[str | None, typer.Option("--name", help="Rename the instance.")] = None,
    rpm: RpmOpt = None,
    rph: RphOpt = None,
    conc: ConcOpt = None,
) -> None:
    """Change an instance's settings, name or rate limits (validated; nothing changes on error).

    Example: cuervo-fabric connector update api --set health_path=/healthz --requests-per-minute 60
    """
    fabric = state.fabric()
    settings: dict[str, Any] = read_toml_settings(config)
    settings.update(parse_pairs(set_, "--set"))
    inst = fabric.lifecycle.update(
        fabric.tenant,
        ref,
        settings=settings,
        unset=unset,
        name=name,
        rate_limits=_limits(rpm, rph, conc),
    )
    _show_instance(inst)


@app.command("pause")
def pause(
    ref: InstanceArg,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (shown in status).")] = None,
) -> None:
    """Pause an active instance: calls are refused, credentials are kept.

    Example: cuervo-fabric connector pause work --reason "maintenance"
    """
    fabric = state.fabric()
    _show_instance(fabric.lifecycle.pause(fabric.tenant, ref, reason))


@app.command("resume")
def resume(ref: InstanceArg) -> None:
    """Resume a paused instance.

    Example: cuervo-fabric connector resume work
    """
    fabric = state.fabric()
    _show_instance(fabric.lifecycle.resume(fabric.tenant, ref))


@app.command("upgrade")
def upgrade(
    ref: InstanceArg,
    to: Annotated[
        str | None, typer.Option("--to", "--version", help="Target version (default: latest).")
    ] = None,
) -> None:
    """Move an instance to another registered version, running the connector's migration hook.

    Example: cuervo-fabric connector upgrade work --to 2.0.0
    """
    fabric = state.fabric()
    _show_instance(fabric.lifecycle.upgrade(fabric.tenant, ref, to))


@app.command("uninstall")
def uninstall(
    ref: InstanceArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Uninstall an instance: revoke and delete its credentials and data.

    Example: cuervo-fabric connector uninstall work --yes
    """
    fabric = state.fabric()
    inst = fabric.lifecycle.resolve(fabric.tenant, ref)
    if not yes:
        if not state.interactive:
            raise InvalidInputError(
                f"uninstalling {inst.name!r} deletes its credentials and data: pass --yes to confirm",
                details={"field": "yes"},
            )
        if not typer.confirm(f"Uninstall {inst.name!r} ({inst.connector_id}) and delete its data?"):
            raise typer.Abort()
    _show_instance(fabric.lifecycle.uninstall(fabric.tenant, inst.id))
