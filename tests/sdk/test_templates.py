"""Every `sdk new` template renders into a project that installs in a fresh virtualenv and passes
its own tests, ruff, mypy --strict and its import contract, unmodified (meltano's templates session).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cuervo_fabric.sdk._scaffold import variants
from tests.helpers import cli
from tests.sdk._venv import ROOT, clean_env, describe, make_venv, run


@pytest.mark.slow
@pytest.mark.parametrize("variant", variants())
def test_rendered_template_installs_and_passes_its_checks(variant: str, tmp_path: Path) -> None:
    """The rendered project installs with pip and its pytest, ruff, mypy --strict and lint-imports pass."""
    project = tmp_path / "project"
    out = cli(
        "--json", "sdk", "new", f"tpl-{variant}", "--template", variant, "--dir", str(project), "--no-input"
    )
    assert out.exit_code == 0, out.stderr
    venv_dir = make_venv(tmp_path / "venv", "-e", str(ROOT), "-e", f"{project}[dev]")
    env = clean_env(venv_dir)
    bin_ = venv_dir / "bin"
    for cmd in (
        [str(bin_ / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        [str(bin_ / "ruff"), "check", "--no-cache", "."],
        [str(bin_ / "ruff"), "format", "--check", "--no-cache", "."],
        [str(bin_ / "mypy"), "--no-incremental"],
        [str(bin_ / "lint-imports"), "--no-cache"],
    ):
        done = run(cmd, project, env)
        assert done.returncode == 0, (
            f"{' '.join(cmd[:2])} failed in the {variant} template:\n{describe(done)}"
        )
    # The installed project is a registered connector, exactly like a first-party one.
    listed = run([str(bin_ / "cuervo-fabric"), "--json", "connector", "available"], project, env)
    assert listed.returncode == 0, describe(listed)
    assert f'"id": "tpl-{variant}"' in listed.stdout
