"""A connector project on disk: read its pyproject, import its connectors, validate, install, test.

Used by ``sdk validate``, ``sdk test`` and ``connector install ./path``.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cuervo_fabric.errors import InvalidInputError
from cuervo_fabric.sdk._checks import Finding, check_connector

__all__ = ["ConnectorProject", "ValidationReport", "install_project", "validate_project"]

GROUP = "cuervo_fabric.connectors"


@dataclass(frozen=True, slots=True)
class ConnectorProject:
    """A folder with a ``pyproject.toml`` that declares ``cuervo_fabric.connectors`` entry points."""

    root: Path
    name: str
    entry_points: dict[str, str]
    import_root: Path
    pyproject: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> ConnectorProject:
        root = path.expanduser().resolve()
        file = root / "pyproject.toml"
        if not file.is_file():
            raise InvalidInputError(
                f"{root} is not a connector project: it has no pyproject.toml "
                "(make one with: cuervo-fabric sdk new NAME)",
                details={"field": "path"},
            )
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInputError(f"{file} is not valid TOML: {exc}", details={"field": "path"}) from exc
        project = data.get("project") or {}
        eps = dict((project.get("entry-points") or {}).get(GROUP) or {})
        import_root = root / "src" if (root / "src").is_dir() else root
        return cls(root, str(project.get("name") or root.name), eps, import_root, data)

    def import_connectors(self) -> dict[str, Any]:
        """``{entry point name: class or the import error as text}``, importing from the project folder."""
        root = str(self.import_root)
        if root not in sys.path:
            sys.path.insert(0, root)
        elif sys.path[0] != root:
            sys.path.remove(root)
            sys.path.insert(0, root)
        importlib.invalidate_caches()
        # Import the folder's code, not a copy imported earlier (or installed elsewhere).
        for top in {t.partition(":")[0].strip().split(".")[0] for t in self.entry_points.values()}:
            for loaded in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
                del sys.modules[loaded]
        out: dict[str, Any] = {}
        for name, target in self.entry_points.items():
            module_name, _, attr = target.partition(":")
            try:
                module = importlib.import_module(module_name.strip())
                obj: Any = module
                for part in attr.strip().split(".") if attr.strip() else []:
                    obj = getattr(obj, part)
                out[name] = obj
            except Exception as exc:  # noqa: BLE001 - an author's import error is a finding, not a crash
                out[name] = f"{type(exc).__name__}: {exc}"
        return out


@dataclass(slots=True)
class ValidationReport:
    """What ``sdk validate`` found: per-connector findings plus project-level ones."""

    project: str
    path: str
    connectors: dict[str, str] = field(default_factory=dict)
    findings: list[tuple[str, Finding]] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(1 for _, f in self.findings if f.level == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for _, f in self.findings if f.level == "warning")

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "project": self.project,
            "path": self.path,
            "connectors": self.connectors,
            "errors": self.errors,
            "warnings": self.warnings,
            "findings": [{"connector": c, **f.to_dict()} for c, f in self.findings],
        }


def validate_project(path: Path) -> ValidationReport:
    """Static checks of a project: packaging, entry points, and every connector's declarations."""
    project = ConnectorProject.load(path)
    report = ValidationReport(project=project.name, path=str(project.root))

    def add(connector: str, check: str, level: str, message: str, fix: str = "") -> None:
        report.findings.append((connector, Finding(check, level, message, fix)))

    if not project.entry_points:
        add(
            "-",
            "packaging",
            "error",
            f'pyproject.toml declares no [project.entry-points."{GROUP}"]',
            f'add: [project.entry-points."{GROUP}"] my-id = "my_package.connector:MyConnector"',
        )
    deps = [str(d) for d in (project.pyproject.get("project") or {}).get("dependencies") or []]
    if not any(d.replace("_", "-").lower().startswith("cuervo-fabric") for d in deps):
        add(
            "-",
            "packaging",
            "warning",
            "cuervo-fabric is not in [project].dependencies",
            'add "cuervo-fabric>=0.1"',
        )
    if not (project.root / "tests").is_dir():
        add("-", "packaging", "warning", "no tests/ folder", "add tests that use cuervo_fabric.testing")
    if not any((project.root / n).is_file() for n in ("README.md", "README.rst", "README")):
        add("-", "packaging", "warning", "no README", "say what the connector does and how to log in")

    from cuervo_fabric.sdk._connector import BaseConnector

    for name, loaded in project.import_connectors().items():
        target = project.entry_points[name]
        if isinstance(loaded, str):
            add(
                name,
                "class",
                "error",
                f"cannot import {target}: {loaded}",
                "fix the module or the entry point",
            )
            continue
        if not (isinstance(loaded, type) and issubclass(loaded, BaseConnector)):
            add(
                name,
                "class",
                "error",
                f"{target} is not a BaseConnector subclass",
                "point the entry point at the class",
            )
            continue
        report.connectors[name] = f"{loaded.__module__}.{loaded.__qualname__}"
        if getattr(loaded, "id", None) != name:
            add(
                name,
                "class",
                "error",
                f"entry point {name!r} loads a connector whose id is {getattr(loaded, 'id', None)!r}",
                "make the entry point's name equal to the connector's id",
            )
        for finding in check_connector(loaded):
            report.findings.append((name, finding))
        if (project.import_root / loaded.__module__.split(".")[0] / "py.typed").exists() is False:
            add(name, "packaging", "warning", "the package has no py.typed marker", "add an empty py.typed")
    return report


def install_project(path: Path, *, editable: bool = False) -> ConnectorProject:
    """``python -m pip install [--editable] PATH`` into this interpreter's environment.

    pip's output goes to stderr, so ``--json`` stdout stays one document. Afterwards the project's
    connectors are visible to the registry through their entry points (in this process too).
    """
    project = ConnectorProject.load(path)
    if not project.entry_points:
        raise InvalidInputError(
            f'{project.root} declares no [project.entry-points."{GROUP}"]: it is not a connector project',
            details={"field": "path"},
        )
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    cmd += ["--editable", str(project.root)] if editable else [str(project.root)]
    done = subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr, check=False)  # noqa: S603 - our argv
    if done.returncode != 0:
        raise InvalidInputError(
            f"pip could not install {project.root} (exit {done.returncode}); see pip's messages above",
            details={"field": "path"},
        )
    importlib.invalidate_caches()
    if editable and str(project.import_root) not in sys.path:
        # An editable install takes effect through a .pth file at the next start; this process
        # needs the folder on its path now.
        sys.path.insert(0, str(project.import_root))
    return project


def conformance_source(connectors: dict[str, Any]) -> str:
    """A pytest module that runs the standard conformance suite on each connector class."""
    lines = [
        '"""Generated by cuervo-fabric sdk test: the standard conformance suite."""',
        "",
        "from cuervo_fabric.testing import connector_test_class",
        "",
    ]
    for i, cls in enumerate(connectors.values()):
        lines.append(f"from {cls.__module__} import {cls.__qualname__} as _Connector{i}")
    lines.append("")
    for i, cls in enumerate(connectors.values()):
        lines.append(f"Test{cls.__name__}Conformance = connector_test_class(_Connector{i})")
    return "\n".join(lines) + "\n"


def pytest_command(
    project: ConnectorProject, extra_files: list[Path], junit: Path | None
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment of ``sdk test``: pytest on the project's tests plus ``extra_files``."""
    import os

    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(project.root)]
    if "pytest" in (project.pyproject.get("tool") or {}):
        argv += ["-c", str(project.root / "pyproject.toml")]
    if junit is not None:
        argv += ["--junitxml", str(junit), "-q"]
    argv += [str(p) for p in extra_files]
    if (project.root / "tests").is_dir():
        argv.append(str(project.root / "tests"))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(project.import_root), env.get("PYTHONPATH", "")]))
    return argv, env


def has_own_conformance(project: ConnectorProject) -> bool:
    """Whether the project's tests already run ``connector_test_class``."""
    tests = project.root / "tests"
    return tests.is_dir() and any(
        "connector_test_class" in p.read_text(encoding="utf-8", errors="replace") for p in tests.rglob("*.py")
    )


def junit_summary(path: Path) -> dict[str, Any]:
    """Counts and failures from pytest's JUnit XML report, for ``sdk test --json``."""
    import xml.etree.ElementTree as ET

    if not path.exists():
        return {"tests": 0, "passed": 0, "failed": 0, "skipped": 0, "failures": []}
    root = ET.parse(path).getroot()  # noqa: S314 - see above
    cases = list(root.iter("testcase"))
    failures: list[dict[str, str]] = []
    skipped = 0
    for case in cases:
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None:
            failures.append({"test": name, "message": (bad.get("message") or "")[:2000]})
        elif case.find("skipped") is not None:
            skipped += 1
    return {
        "tests": len(cases),
        "passed": len(cases) - len(failures) - skipped,
        "failed": len(failures),
        "skipped": skipped,
        "failures": failures,
    }
