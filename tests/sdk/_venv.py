"""Fresh virtualenvs for the template and third-party connector tests (slow: pip installs)."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def clean_env(venv_dir: Path, **extra: str) -> dict[str, str]:
    """The test's environment without pytest's and the outer venv's variables, venv first on PATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "VIRTUAL_ENV", "PYTHONPATH", "PIP_REQUIRE"))
    }
    env["PATH"] = str(venv_dir / "bin") + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(venv_dir)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.update(extra)
    return env


def run(
    cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def make_venv(path: Path, *packages: str) -> Path:
    """``python -m venv PATH`` then ``pip install PACKAGES`` (pip's cache is reused)."""
    venv.EnvBuilder(with_pip=True).create(path)
    env = clean_env(path)
    done = run([str(path / "bin" / "python"), "-m", "pip", "install", "-q", *packages], ROOT, env)
    assert done.returncode == 0, f"pip install failed:\n{done.stdout}\n{done.stderr}"
    return path


def describe(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n--- stdout\n{done.stdout[-6000:]}\n--- stderr\n{done.stderr[-6000:]}"


PYTHON = sys.executable
