"""``cuervo-fabric demo``: the main job, offline, in one go.

Starts a small "Acme Tasks" API on loopback (bearer-token protected), then runs the real CLI as a
user would: install the generic ``http`` connector, log in with a token, call the API through the
gateway, check health and list instances. Everything lands in a throwaway home folder unless one
is given.
"""

from __future__ import annotations

import base64
import os
import secrets
import shlex
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cuervo_fabric.testing import LoopbackServer, RecordedRequest, Reply

__all__ = ["acme_server", "run_demo"]


def acme_server(token: str) -> LoopbackServer:
    """A tiny tasks API that checks ``Authorization: Bearer <token>``."""
    server = LoopbackServer()
    tasks: list[dict[str, Any]] = [{"id": 1, "title": "write the connector", "done": True}]
    lock = threading.Lock()
    seen_keys: dict[str, dict[str, Any]] = {}

    def authed(handler: Callable[[RecordedRequest], Reply]) -> Callable[[RecordedRequest], Reply]:
        def run(req: RecordedRequest) -> Reply:
            if req.headers.get("authorization") != f"Bearer {token}":
                return Reply(401, {"message": "bad credentials"})
            return handler(req)

        return run

    def list_tasks(req: RecordedRequest) -> Reply:
        with lock:
            return Reply(200, {"tasks": list(tasks)}, {"X-RateLimit-Remaining": "4999"})

    def create_task(req: RecordedRequest) -> Reply:
        key = req.headers.get("idempotency-key", "")
        with lock:
            if key and key in seen_keys:
                return Reply(201, seen_keys[key])
            task = {
                "id": len(tasks) + 1,
                "title": (req.json() or {}).get("title", "untitled"),
                "done": False,
            }
            tasks.append(task)
            if key:
                seen_keys[key] = task
        return Reply(201, task)

    server.route("GET", "/health", Reply(200, {"ok": True}))
    server.route("GET", "/tasks", authed(list_tasks))
    server.route("POST", "/tasks", authed(create_task))
    return server


def run_demo(home: Path | None = None, echo: Callable[[str], None] = print) -> int:
    """Run the demo; returns the process exit code (0 when every step worked)."""
    own_home = home is None
    home = home or Path(tempfile.mkdtemp(prefix="cuervo-fabric-demo-"))
    token = "acme_" + secrets.token_urlsafe(16)
    env = dict(os.environ)
    env["CUERVO_FABRIC_HOME"] = str(home)
    env.setdefault("CUERVO_FABRIC_KEY", base64.b64encode(os.urandom(32)).decode())
    env.pop("CUERVO_FABRIC_PROFILE", None)
    env.pop("CUERVO_FABRIC_TENANT", None)
    exe = [sys.executable, "-m", "cuervo_fabric"]

    with acme_server(token) as server:
        steps: list[tuple[list[str], str | None]] = [
            (["connector", "available"], None),
            (
                [
                    "connector",
                    "install",
                    "http",
                    "--name",
                    "acme",
                    "--set",
                    f"base_url={server.url}",
                    "--set",
                    "auth_type=bearer_token",
                    "--set",
                    "health_path=/health",
                    "--requests-per-minute",
                    "60",
                ],
                None,
            ),
            (["auth", "login", "acme", "--with-token"], token + "\n"),
            (["exec", "acme", "request", "-p", "path=/tasks"], None),
            (
                [
                    "exec",
                    "acme",
                    "request",
                    "-p",
                    "method=POST",
                    "-p",
                    "path=/tasks",
                    "--params",
                    '{"body": {"title": "ship cuervo-fabric"}}',
                    "--idempotency-key",
                    "demo-1",
                    "--explain",
                ],
                None,
            ),
            (["--json", "exec", "acme", "request", "-p", "path=/tasks"], None),
            (["health", "acme"], None),
            (["audit", "list", "--limit", "5"], None),
            (["connector", "list"], None),
        ]
        echo(f"# demo home: {home}   (Acme Tasks API on {server.url})")
        for args, stdin in steps:
            shown = "cuervo-fabric " + " ".join(shlex.quote(a) for a in args)
            echo(("$ echo $ACME_TOKEN | " if stdin else "$ ") + shown)
            proc = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
                exe + args, input=stdin, env=env, text=True, capture_output=True, check=False
            )
            if proc.stdout:
                echo(proc.stdout.rstrip())
            if proc.stderr:
                echo(proc.stderr.rstrip())
            if proc.returncode != 0:
                echo(f"demo step failed with exit code {proc.returncode}")
                return proc.returncode
        if token in "".join(str(p) for p in home.rglob("*") if p.is_file()):
            echo("demo: a token leaked into a file name")  # pragma: no cover
            return 1
    echo("Demo finished: the connector was installed, authenticated and called through the gateway.")
    if own_home:
        echo(f"(state kept in {home}; delete it when done)")
    return 0
