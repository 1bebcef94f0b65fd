"""A throwaway fabric for benchmarks: its own home, a provider on loopback, one instance.

Nothing touches the user's own configuration or data. The instance is the generic ``http``
connector with a bearer token (every call injects a credential from the vault) and a
requests-per-minute limit (every call takes a token from the store), the way a real instance
would be set up.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cuervo_fabric.bench._server import spawn

__all__ = ["BenchFabric", "bench_fabric", "cli_argv", "use_env"]

INSTANCE = "bench"


def cli_argv() -> list[str]:
    """How a user starts the CLI: the ``cuervo-fabric`` script beside this Python, else ``-m``."""
    script = Path(sys.executable).with_name("cuervo-fabric")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "cuervo_fabric"]


@dataclass(frozen=True, slots=True)
class BenchFabric:
    home: Path
    env: dict[str, str]
    url: str
    token: str
    instance: str = INSTANCE


@contextmanager
def bench_fabric() -> Iterator[BenchFabric]:
    home = Path(tempfile.mkdtemp(prefix="cuervo-fabric-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUERVO_FABRIC_")}
    # Measure start-up as an installed package has it: byte-compiled. A private bytecode cache in
    # the throwaway home serves both sides alike and writes nothing into the source tree.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        CUERVO_FABRIC_HOME=str(home),
        CUERVO_FABRIC_KEY=base64.b64encode(os.urandom(32)).decode(),
        PYTHONPYCACHEPREFIX=str(home / "pycache"),
    )
    token = "bench_" + secrets.token_urlsafe(16)
    server, url = spawn()
    try:
        cli = cli_argv()
        steps: list[tuple[list[str], str | None]] = [
            (
                [
                    "--no-input",
                    "connector",
                    "install",
                    "http",
                    "--name",
                    INSTANCE,
                    "--set",
                    f"base_url={url}",
                    "--set",
                    "auth_type=bearer_token",
                    "--requests-per-minute",
                    "10000000",
                ],
                None,
            ),
            (["auth", "login", INSTANCE, "--with-token"], token),
        ]
        for args, stdin in steps:
            proc = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
                cli + args, env=env, input=stdin, text=True, capture_output=True, check=False
            )
            if proc.returncode != 0:
                raise RuntimeError(f"benchmark set-up failed: cuervo-fabric {args[1]}: {proc.stderr[-400:]}")
        yield BenchFabric(home=home, env=env, url=url, token=token)
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def use_env(env: dict[str, str]) -> Iterator[None]:
    """Run in-process code against the benchmark's home (restores the environment after)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("CUERVO_FABRIC_")}
    for key in saved:
        del os.environ[key]
    os.environ.update({k: v for k, v in env.items() if k.startswith("CUERVO_FABRIC_")})
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("CUERVO_FABRIC_")]:
            del os.environ[key]
        os.environ.update(saved)
