#!/usr/bin/env python3
"""Developer entry point: sets everything up, then runs the demo or the tests.

    python3 dev.py demo     # make .venv, install cuervo-fabric, run the main job offline
    python3 dev.py test     # make .venv, install cuervo-fabric[dev], run the whole test suite
                            #   (in parallel with pytest-xdist; extra arguments go to pytest)
    python3 dev.py lint     # ruff, ruff format --check, mypy --strict, import-linter

Needs only Python 3.11+ (and git). Re-running is cheap: the install is skipped while
pyproject.toml is unchanged.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def run(*cmd: str | Path, env: dict[str, str] | None = None) -> int:
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, env=env)


def ensure_env(extra: str) -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"cuervo-fabric needs Python 3.11+, this is {sys.version.split()[0]}")
    if not PY.exists():
        print(f"creating {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extra.encode()).hexdigest()
    stamp = VENV / f".installed-{extra or 'base'}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(f"installing cuervo-fabric{f'[{extra}]' if extra else ''} into {VENV} ...", flush=True)
    quiet = [] if os.environ.get("CI") else ["-q"]
    if run(PY, "-m", "pip", "install", *quiet, "--upgrade", "pip") != 0:
        sys.exit("pip upgrade failed")
    target = f".[{extra}]" if extra else "."
    if run(PY, "-m", "pip", "install", *quiet, "-e", target) != 0:
        sys.exit("pip install failed")
    stamp.write_text(digest)


def main(argv: list[str]) -> int:
    task = argv[0] if argv else "help"
    rest = argv[1:]
    if task == "demo":
        ensure_env("")
        return run(PY, "-m", "cuervo_fabric", "demo", *rest)
    if task == "test":
        ensure_env("dev")
        chosen = any(a.startswith(("-n", "--numprocesses", "-p no:xdist")) for a in rest)
        parallel = [] if chosen else ["-n", "auto"]
        return run(PY, "-m", "pytest", *parallel, *rest)
    if task == "lint":
        ensure_env("dev")
        steps = [
            [BIN / "ruff", "check", "."],
            [BIN / "ruff", "format", "--check", "."],
            [BIN / "mypy"],
            [BIN / "lint-imports"],
        ]
        for step in steps:
            print("$", " ".join(str(s.name if isinstance(s, Path) else s) for s in step), flush=True)
            if run(*step) != 0:
                return 1
        return 0
    print(__doc__)
    return 0 if task in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
