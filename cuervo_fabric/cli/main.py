"""The root of the ``cuervo-fabric`` command: global options and the command groups."""

from __future__ import annotations

from typing import Annotated

import typer

from cuervo_fabric.cli import (
    audit,
    auth,
    bench,
    circuit,
    completion,
    config_cmd,
    connector,
    demo,
    events,
    execute,
    metrics,
    ratelimit,
    sdk,
    serve,
    vault,
    webhooks,
)
from cuervo_fabric.cli._app import new_app
from cuervo_fabric.cli._state import state

__all__ = ["app", "main"]

app = new_app(
    "cuervo-fabric: one gateway to GitHub, GitLab, Jira, Slack, model providers and any REST API.\n\n"
    "Example: [bold]cuervo-fabric connector install http --set base_url=http://127.0.0.1:8000[/bold]",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from cuervo_fabric import __version__

        typer.echo(f"cuervo-fabric {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON document on stdout (for scripts).")
    ] = False,
    tenant: Annotated[
        str | None,
        typer.Option(
            "--tenant",
            help="Tenant to act in (default: the profile's, else 'default').",
            envvar="CUERVO_FABRIC_TENANT",
            show_envvar=True,
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="Config profile: local, or a remote fabric.",
            envvar="CUERVO_FABRIC_PROFILE",
            show_envvar=True,
        ),
    ] = None,
    no_input: Annotated[
        bool,
        typer.Option("--no-input", help="Never prompt (implied without a TTY or with CI set)."),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show diagnostics.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Global options come before the command: cuervo-fabric --json connector list."""
    state.close()
    state.json = json_output
    state.tenant = tenant
    state.profile = profile
    state.no_input = no_input
    state.verbose = verbose


app.add_typer(connector.app, name="connector")
app.command(
    "install",
    help="Same as `connector install`.\n\n"
    "Example: cuervo-fabric install http --name api --set base_url=http://127.0.0.1:8000",
)(connector.install)
app.add_typer(auth.app, name="auth")
app.command("exec")(execute.exec_command)
app.command("health")(execute.health_command)
app.command("metrics")(metrics.metrics_command)
app.add_typer(audit.app, name="audit")
app.add_typer(circuit.app, name="circuit")
app.add_typer(ratelimit.app, name="ratelimit")
app.command("bench")(bench.bench_command)
app.add_typer(vault.app, name="vault")
app.add_typer(config_cmd.app, name="config")
app.command("demo")(demo.demo_command)
app.command("completion")(completion.completion_command)
app.add_typer(events.app, name="events")
app.add_typer(webhooks.app, name="webhooks")
app.command("serve")(serve.serve_command)
app.add_typer(sdk.app, name="sdk")


def main() -> None:
    """Console-script entry point (command groups are built only when used: see ``_lazy``)."""
    from cuervo_fabric.cli._lazy import run

    run(app, prog_name="cuervo-fabric")
