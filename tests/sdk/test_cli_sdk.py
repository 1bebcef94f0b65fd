"""`cuervo-fabric sdk new|validate|test` and `connector install ./path` through the CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CLI, cli_env
from tests.helpers import cli


def _new(tmp_path: Path, name: str = "acme-crm", *extra: str) -> Path:
    target = tmp_path / name
    out = cli("--json", "sdk", "new", name, "--dir", str(target), "--no-input", *extra)
    assert out.exit_code == 0, out.stderr
    return target


def test_sdk_new_renders_a_complete_project(tmp_path: Path) -> None:
    """sdk new writes the package, tests, README, CI and a pyproject with the connector entry point."""
    target = tmp_path / "proj"
    out = cli(
        "--json",
        "sdk",
        "new",
        "acme-crm",
        "--template",
        "oauth2",
        "--category",
        "project-management",
        "--dir",
        str(target),
        "--vendor",
        "Acme Inc",
        "--description",
        "Acme CRM contacts",
        "--no-input",
    )
    assert out.exit_code == 0, out.stderr
    info = out.json()
    assert info["connectorId"] == "acme-crm"
    assert info["package"] == "cuervo_fabric_acme_crm"
    assert info["category"] == "project_management"
    for rel in (
        "pyproject.toml",
        "README.md",
        ".github/workflows/ci.yml",
        "cuervo_fabric_acme_crm/connector.py",
        "cuervo_fabric_acme_crm/py.typed",
        "tests/test_connector.py",
        "tests/test_conformance.py",
    ):
        assert (target / rel).is_file(), rel
    pyproject = (target / "pyproject.toml").read_text()
    assert 'acme-crm = "cuervo_fabric_acme_crm.connector:AcmeCrmConnector"' in pyproject
    connector = (target / "cuervo_fabric_acme_crm" / "connector.py").read_text()
    assert "ConnectorCategory.PROJECT_MANAGEMENT" in connector
    assert 'vendor="Acme Inc"' in connector
    assert "{{" not in "".join(p.read_text() for p in target.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["Bad_Name"], "name"),
        (["ok-name", "--template", "graphql"], "template"),
        (["ok-name", "--category", "toys"], "category"),
        (["ok-name", "--vendor", 'say "hi"'], "vendor"),
    ],
)
def test_sdk_new_rejects_bad_input_and_writes_nothing(tmp_path: Path, args: list[str], field: str) -> None:
    """Bad names, templates, categories or quoted text are INVALID_INPUT (exit 2) and create no folder."""
    target = tmp_path / "out"
    out = cli("--json", "sdk", "new", *args, "--dir", str(target), "--no-input")
    assert out.exit_code == 2
    assert out.error["code"] == "INVALID_INPUT"
    assert out.error["field"] == field
    assert not target.exists()


def test_sdk_new_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    """An existing project is never overwritten."""
    target = _new(tmp_path)
    before = (target / "README.md").read_text()
    out = cli("--json", "sdk", "new", "acme-crm", "--dir", str(target), "--no-input")
    assert out.exit_code == 2
    assert "not empty" in out.error["message"]
    assert (target / "README.md").read_text() == before


def test_sdk_validate_passes_a_fresh_project_and_explains_a_broken_one(tmp_path: Path) -> None:
    """A rendered project validates; breaking it yields findings with fixes and exit 2."""
    target = _new(tmp_path, "val-demo")
    ok = cli("--json", "sdk", "validate", str(target))
    assert ok.exit_code == 0, ok.stdout
    assert ok.json()["ok"] is True
    assert ok.json()["connectors"] == {"val-demo": "cuervo_fabric_val_demo.connector.ValDemoConnector"}
    module = target / "cuervo_fabric_val_demo" / "connector.py"
    text = module.read_text()
    text = text.replace('"minimum": 1,', '"minimum": "one",', 1).replace(
        "required_permissions = (", "_unused = (", 1
    )
    module.write_text(text)
    bad = cli("--json", "sdk", "validate", str(target))
    assert bad.exit_code == 2
    report = bad.json()
    assert report["ok"] is False
    problems = {(f["check"], f["level"]) for f in report["findings"]}
    assert ("params", "error") in problems
    assert ("permissions", "error") in problems
    assert all(f["fix"] for f in report["findings"] if f["level"] == "error")
    human = cli("sdk", "validate", str(target))
    assert human.exit_code == 2
    assert "NOT valid" in human.stdout


def test_sdk_validate_reports_a_folder_that_is_no_project(tmp_path: Path) -> None:
    """A folder without pyproject.toml is INVALID_INPUT with a hint to run sdk new."""
    out = cli("--json", "sdk", "validate", str(tmp_path))
    assert out.exit_code == 2
    assert "sdk new" in out.error["message"]


def test_sdk_test_runs_the_conformance_suite_and_the_project_tests(tmp_path: Path, home: Path) -> None:
    """sdk test runs the project's tests (with its own conformance class) and reports counts as JSON."""
    target = _new(tmp_path, "run-demo")
    done = subprocess.run(
        [*CLI, "--json", "sdk", "test", str(target)],
        env=cli_env(home),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert report["tests"]["failed"] == 0
    assert report["tests"]["passed"] >= 20


def test_sdk_test_generates_the_conformance_suite_when_the_project_lacks_it(
    tmp_path: Path, home: Path
) -> None:
    """Without a conformance test of its own, sdk test adds one; a failing project exits non-zero."""
    target = _new(tmp_path, "gen-demo")
    (target / "tests" / "test_conformance.py").unlink()
    module = target / "cuervo_fabric_gen_demo" / "connector.py"
    module.write_text(
        module.read_text().replace('health_path = "/health"', 'health_path = "/health"\n    version = "x"')
    )
    done = subprocess.run(
        [*CLI, "--json", "sdk", "test", str(target), "-k", "Conformance"],
        env=cli_env(home),
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(done.stdout)
    assert done.returncode == 1, done.stderr
    assert report["tests"]["tests"] >= 10
    assert any(
        "test_metadata_complete" in f["test"] and "not semantic" in f["message"]
        for f in report["tests"]["failures"]
    )


def test_connector_install_of_a_folder_without_a_project_changes_nothing(tmp_path: Path) -> None:
    """connector install ./path on a folder that is no connector project is INVALID_INPUT, before pip runs."""
    (tmp_path / "empty").mkdir()
    out = cli("--json", "connector", "install", str(tmp_path / "empty"))
    assert out.exit_code == 2
    assert "pyproject.toml" in out.error["message"]
    (tmp_path / "noeps").mkdir()
    (tmp_path / "noeps" / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "1"\n')
    out = cli("--json", "connector", "install", str(tmp_path / "noeps"))
    assert out.exit_code == 2
    assert "entry-points" in out.error["message"]
    assert cli("--json", "connector", "list").json() == []
