"""``sdk new``: render a connector project from ``templates/``.

A tiny renderer on purpose: placeholders are ``{{ name }}`` and nothing else (no loops, no
conditions; variants are directories overlaid on ``common/``), every placeholder must be known,
and a path part ``__package__`` becomes the package name. Jinja2 would add a dependency and a
second syntax to escape in the CI files the templates ship, for features the templates do not need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cuervo_fabric.errors import InternalError, InvalidInputError

__all__ = ["TEMPLATE_ROOT_ENV", "ProjectNames", "render_project", "template_root", "variants"]

TEMPLATE_ROOT_ENV = "CUERVO_FABRIC_TEMPLATES"
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
_CONNECTOR_ID = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
_FREE_TEXT_BAD = re.compile(r"[\"\\\x00-\x1f{}]")
_LOGIN_FLAGS = {"basic": "--api-key < api-key.txt", "oauth2": "--web"}


def template_root() -> Path:
    """Where the templates are: inside the installed package, else the source checkout's ``templates/``."""
    import os

    override = os.environ.get(TEMPLATE_ROOT_ENV)
    here = Path(__file__).resolve().parent.parent
    for candidate in (Path(override) if override else None, here / "_templates", here.parent / "templates"):
        if candidate is not None and (candidate / "common").is_dir():
            return candidate
    raise InternalError("the sdk templates are missing from this installation of cuervo-fabric")


def variants() -> list[str]:
    """The template variants (``basic``, ``oauth2``, ...)."""
    root = template_root()
    return sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in ("common", "__pycache__"))


@dataclass(frozen=True, slots=True)
class ProjectNames:
    """Every name a connector project derives from its id (meltano's tap_id / library_name idea)."""

    connector_id: str
    package: str
    dist: str
    class_name: str
    display_name: str

    @classmethod
    def from_id(cls, connector_id: str) -> ProjectNames:
        if not _CONNECTOR_ID.match(connector_id):
            raise InvalidInputError(
                f"connector id {connector_id!r} must be kebab-case: lowercase letters and digits, "
                "words joined by '-', starting with a letter (e.g. acme-crm)",
                details={"field": "name"},
            )
        words = connector_id.split("-")
        return cls(
            connector_id=connector_id,
            package="cuervo_fabric_" + "_".join(words),
            dist="cuervo-fabric-" + connector_id,
            class_name="".join(w.capitalize() for w in words) + "Connector",
            display_name=" ".join(w.capitalize() for w in words),
        )


def _free_text(value: str, field: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidInputError(f"{field} must not be empty", details={"field": field})
    if _FREE_TEXT_BAD.search(value):
        raise InvalidInputError(
            f"{field} must be one line without quotes, backslashes or braces", details={"field": field}
        )
    return value.rstrip(".")


def build_context(
    names: ProjectNames, *, template: str, category: str, vendor: str, description: str
) -> dict[str, str]:
    """The placeholder values for one project (validated)."""
    from cuervo_fabric import __version__
    from cuervo_fabric.domain.models import ConnectorCategory

    wanted = category.strip().lower().replace("-", "_")
    try:
        cat = ConnectorCategory(wanted)
    except ValueError:
        known = ", ".join(c.value for c in ConnectorCategory)
        raise InvalidInputError(
            f"unknown category {category!r} (choose one of: {known})", details={"field": "category"}
        ) from None
    return {
        "connector_id": names.connector_id,
        "package": names.package,
        "dist": names.dist,
        "class_name": names.class_name,
        "display_name": names.display_name,
        "description": _free_text(description, "description"),
        "vendor": _free_text(vendor, "vendor"),
        "category": cat.name,
        "category_value": cat.value,
        "cuervo_version": __version__,
        "template": template,
        "login_flag": _LOGIN_FLAGS.get(template, ""),
    }


def render_text(text: str, context: dict[str, str], where: str) -> str:
    """Replace every ``{{ name }}``; an unknown name is a template bug."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in context:
            raise InternalError(f"template {where} uses unknown placeholder {{{{ {name} }}}}")
        return context[name]

    return _PLACEHOLDER.sub(sub, text)


def _sources(template: str) -> dict[Path, Path]:
    root = template_root()
    known = variants()
    if template not in known:
        raise InvalidInputError(
            f"unknown template {template!r} (choose one of: {', '.join(known)})",
            details={"field": "template"},
        )
    files: dict[Path, Path] = {}
    for layer in (root / "common", root / template):
        for src in sorted(layer.rglob("*")):
            if src.is_file() and "__pycache__" not in src.parts and src.suffix != ".pyc":
                files[src.relative_to(layer)] = src
    return files


def render_project(target: Path, template: str, context: dict[str, str]) -> list[Path]:
    """Render ``template`` into ``target`` (which must not exist, or be empty); return the files written."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidInputError(
            f"{target} already exists and is not empty: choose another --dir or name",
            details={"field": "dir"},
        )
    sources = _sources(template)
    written: list[Path] = []
    for rel, src in sources.items():
        parts = [context["package"] if p == "__package__" else p for p in rel.parts]
        dest = target.joinpath(*parts)
        dest.parent.mkdir(parents=True, exist_ok=True)
        raw = src.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            dest.write_bytes(raw)
        else:
            dest.write_text(render_text(text, context, str(rel)), encoding="utf-8")
        written.append(dest)
    return written
