"""``cuervo-fabric sdk ...``: scaffold, validate and test connector projects."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cuervo_fabric.cli import _render
from cuervo_fabric.cli._app import new_app
from cuervo_fabric.cli._state import state
from cuervo_fabric.errors import EXIT_CODES

__all__ = ["app", "install_local_project", "looks_like_path"]

app = new_app(
    "Write connectors: scaffold a project, validate it, run its tests and the conformance suite.\n\n"
    "Example: [bold]cuervo-fabric sdk new acme-crm --template oauth2 --category project_management[/bold]"
)

PathArg = Annotated[Path, typer.Argument(help="The connector project folder (has pyproject.toml).")]


def _ask(spec: dict[str, Any]) -> dict[str, Any]:
    """Prompt (questionary) for the ``sdk new`` choices the command line left open."""
    import questionary

    from cuervo_fabric.domain.models import ConnectorCategory
    from cuervo_fabric.sdk._scaffold import variants

    out = dict(spec)
    if out["template"] is None:
        out["template"] = questionary.select(
            "Template:",
            choices=[
                questionary.Choice("basic  - API key auth, Link-header pages", value="basic"),
                questionary.Choice("oauth2 - OAuth2 login, refresh, cursor pages", value="oauth2"),
                *[questionary.Choice(v, value=v) for v in variants() if v not in ("basic", "oauth2")],
            ],
        ).ask()
    if out["category"] is None:
        out["category"] = questionary.select(
            "Category:", choices=[c.value for c in ConnectorCategory], default="custom"
        ).ask()
    if out["vendor"] is None:
        out["vendor"] = questionary.text("Vendor (who makes the API):", default=out["display_name"]).ask()
    if out["description"] is None:
        out["description"] = questionary.text(
            "One-line description:", default=f"{out['display_name']} through cuervo-fabric"
        ).ask()
    if any(out[k] is None for k in ("template", "category", "vendor", "description")):
        raise typer.Abort()
    return out


@app.command("new")
def new(
    name: Annotated[str, typer.Argument(help="Connector id, kebab-case (e.g. acme-crm).")],
    template: Annotated[
        str | None, typer.Option("--template", "-t", help="basic (API key) or oauth2.")
    ] = None,
    category: Annotated[
        str | None, typer.Option("--category", help="e.g. custom, source_control, project_management.")
    ] = None,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Project folder to create (default: ./cuervo-fabric-NAME).")
    ] = None,
    vendor: Annotated[str | None, typer.Option("--vendor", help="Who makes the API.")] = None,
    description: Annotated[str | None, typer.Option("--description", help="One line about it.")] = None,
) -> None:
    """Create a connector project: package, tests, README and CI, ready to pip install.

    Without --no-input it asks for what the options leave open.

    Example: cuervo-fabric sdk new acme-crm --template oauth2 --dir ./acme-crm --no-input
    """
    from cuervo_fabric.sdk._scaffold import ProjectNames, build_context, render_project

    names = ProjectNames.from_id(name)
    choices: dict[str, Any] = {
        "template": template,
        "category": category,
        "vendor": vendor,
        "description": description,
        "display_name": names.display_name,
    }
    if state.interactive:
        choices = _ask(choices)
    template_name = choices["template"] or "basic"
    context = build_context(
        names,
        template=template_name,
        category=choices["category"] or "custom",
        vendor=choices["vendor"] or names.display_name,
        description=choices["description"] or f"{names.display_name} through cuervo-fabric",
    )
    target = (directory or Path.cwd() / names.dist).expanduser().resolve()
    files = render_project(target, template_name, context)
    payload = {
        "path": str(target),
        "connectorId": names.connector_id,
        "package": names.package,
        "distribution": names.dist,
        "className": names.class_name,
        "template": template_name,
        "category": context["category_value"],
        "files": [str(f.relative_to(target)) for f in files],
    }

    def human() -> None:
        _render.info(f"Created {names.connector_id} ({template_name} template) in {target}")
        for f in payload["files"]:
            _render.info(f"  {f}")
        _render.info(
            "Next:\n"
            f"  cd {target}\n"
            "  python -m venv .venv && . .venv/bin/activate && pip install -e '.[dev]'\n"
            "  pytest && ruff check . && mypy\n"
            f"  cuervo-fabric connector install {target}"
        )

    _render.emit(payload, human)


def _show_report(report: Any) -> None:
    def human() -> None:
        if report.findings:
            _render.table(
                f"{report.project}: {report.errors} error(s), {report.warnings} warning(s)",
                ["connector", "check", "level", "problem", "how to fix"],
                [(c, f.check, f.level, f.message, f.fix) for c, f in report.findings],
            )
        verdict = "valid" if report.ok else "NOT valid"
        found = ", ".join(report.connectors) or "none"
        _render.info(f"{report.project} is {verdict} (connectors: {found})")

    _render.emit(report.to_dict(), human)


@app.command("validate")
def validate(path: PathArg = Path(".")) -> None:
    """Check a connector project statically: metadata, schemas, handlers, permissions, webhooks.

    Packaging and entry points, metadata, config schema (against the JSON Schema meta-schema),
    capabilities against handlers, params schemas, permissions and webhook verifiers. Exits 2
    when any error is found (warnings alone pass).

    Example: cuervo-fabric sdk validate ./cuervo-fabric-acme-crm --json
    """
    from cuervo_fabric.sdk._project import validate_project

    report = validate_project(path)
    _show_report(report)
    if not report.ok:
        raise typer.Exit(EXIT_CODES["INVALID_INPUT"])


@app.command("test")
def run_tests(
    path: PathArg = Path("."),
    keyword: Annotated[
        str | None, typer.Option("-k", help="Only tests matching this pytest expression.")
    ] = None,
) -> None:
    """Run the standard conformance suite and the project's own tests (pytest).

    Static problems are reported first. Exits with pytest's exit code (0: all passed).

    Example: cuervo-fabric sdk test ./cuervo-fabric-acme-crm
    """
    import subprocess
    import tempfile

    from cuervo_fabric.sdk._project import (
        ConnectorProject,
        conformance_source,
        has_own_conformance,
        junit_summary,
        pytest_command,
        validate_project,
    )

    report = validate_project(path)
    project = ConnectorProject.load(path)
    if not state.json:
        for connector, finding in report.findings:
            if finding.level == "error":
                _render.warn(f"error [{connector}/{finding.check}]: {finding.message} -> {finding.fix}")
    loaded = {k: v for k, v in project.import_connectors().items() if not isinstance(v, str)}
    with tempfile.TemporaryDirectory(prefix="cuervo-sdk-test-") as tmp:
        extra: list[Path] = []
        if loaded and not has_own_conformance(project):
            module = Path(tmp) / "test_cuervo_conformance.py"
            module.write_text(conformance_source(loaded), encoding="utf-8")
            extra.append(module)
        junit = Path(tmp) / "report.xml" if state.json else None
        argv, env = pytest_command(project, extra, junit)
        if keyword:
            argv += ["-k", keyword]
        if not extra and not (project.root / "tests").is_dir():
            _render.warn("nothing to run: no connector imports and no tests/ folder")
        sys.stdout.flush()
        done = subprocess.run(  # noqa: S603 - our own interpreter running pytest
            argv,
            env=env,
            cwd=project.root,
            stdout=sys.stderr if state.json else None,
            check=False,
        )
        summary = junit_summary(junit) if junit is not None else {}
    outcome = {
        "ok": done.returncode == 0 and report.ok,
        "exitCode": done.returncode,
        "validation": report.to_dict(),
        "tests": summary,
    }
    _render.emit(outcome, lambda: _render.info("sdk test: " + ("passed" if outcome["ok"] else "FAILED")))
    if done.returncode != 0:
        raise typer.Exit(done.returncode)
    if not report.ok:
        raise typer.Exit(EXIT_CODES["INVALID_INPUT"])


# ---------------------------------------------------------------- used by `connector install ./path`
def looks_like_path(value: str) -> bool:
    """``connector install`` takes a registry id or a project folder (``./acme``, ``/src/acme``)."""
    return value.startswith((".", "/", "~")) or "/" in value or value.endswith(".toml")


def install_local_project(value: str, *, editable: bool) -> str:
    """pip-install the connector project at ``value``; return the connector id to install."""
    from cuervo_fabric.errors import InvalidInputError
    from cuervo_fabric.sdk._project import install_project

    path = Path(value).expanduser()
    if path.name == "pyproject.toml":
        path = path.parent
    if not state.json:
        _render.info(f"Installing the connector project {path.resolve()} with pip ...")
    project = install_project(path, editable=editable)
    ids = sorted(project.entry_points)
    if len(ids) != 1:
        raise InvalidInputError(
            f"{project.name} declares {len(ids)} connectors ({', '.join(ids)}); they are available now: "
            "install one with cuervo-fabric connector install ID",
            details={"field": "connector", "connectors": ids},
        )
    return ids[0]
