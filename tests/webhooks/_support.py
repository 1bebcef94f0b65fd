"""Helpers for the webhook tests: a GitHub instance with an endpoint, and `serve` in a subprocess."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from cuervo_fabric.sdk import GitHubSignature
from tests.conftest import CLI, cli_env
from tests.helpers import cli


def allow_private_targets() -> None:
    """Loopback receivers need the SSRF guard opened (as a user would in config)."""
    assert cli("config", "set", "webhooks.allow_private_targets", "true").exit_code == 0


def github_endpoint(name: str = "gh") -> dict[str, Any]:
    """Install a github instance and register its webhook endpoint; ``url`` is a path here."""
    assert cli("connector", "install", "github", "--name", name, "--no-input").exit_code == 0
    out = cli("--json", "webhooks", "endpoints", name, "--base-url", "http://base")
    assert out.exit_code == 0, out.stderr
    info = dict(out.json())
    info["path"] = info["url"].removeprefix("http://base")
    return info


def github_headers(
    secret: str, body: bytes, *, event: str = "pull_request", delivery: str | None = None
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        **GitHubSignature().sign(secret, body),
    }


@contextlib.contextmanager
def serving(home: Path, *args: str, port: int = 0) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``cuervo-fabric serve`` in a subprocess; yields its base URL once /healthz answers."""
    proc = start_serve(home, *args, port=port)
    try:
        yield wait_ready(proc), proc
    finally:
        stop(proc)


def start_serve(home: Path, *args: str, port: int = 0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "--json", "serve", "--port", str(port), *args],
        env=cli_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_ready(proc: subprocess.Popen[str], timeout: float = 30.0) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(f"serve did not start: {proc.stderr.read() if proc.stderr else ''}")
    url = str(json.loads(line)["url"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return url
        time.sleep(0.05)
    raise AssertionError("serve never answered /healthz")


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
