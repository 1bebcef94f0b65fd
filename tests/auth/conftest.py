"""Fixtures of the auth tests: a real OpenID Provider, a token-checking resource API, CLI runners."""

from __future__ import annotations

import json
import shlex
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from cuervo_fabric.testing import LoopbackServer, RecordedRequest, Reply
from tests._require import require
from tests.conftest import CLI, cli_env
from tests.contract.backends import backend, store
from tests.helpers import cli

__all__ = ["backend", "store"]

HERE = Path(__file__).parent
OIDC_DIR = HERE / "oidc"
BROWSER = f"{shlex.quote(sys.executable)} {shlex.quote(str(HERE / 'headless_browser.py'))}"
CLIENT_ID = "cuervo-cli"
SCOPES = "openid,offline_access,api:read"


def node_ready() -> bool:
    return (
        bool(shutil.which("node")) and (OIDC_DIR / "node_modules" / "oidc-provider" / "package.json").exists()
    )


@dataclass
class Oidc:
    """The running oidc-provider: its issuer, discovery document and test-only controls."""

    issuer: str
    meta: dict[str, Any]

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(self.issuer + "/_test/stats", timeout=10).json())

    def set_ttl(self, seconds: int) -> None:
        httpx.post(self.issuer + "/_test/config", json={"accessTokenTTL": seconds}, timeout=10)

    def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662, as the resource server (a confidential client)."""
        resp = httpx.post(
            self.meta["introspection_endpoint"],
            data={"token": token},
            auth=("resource-server", "resource-server-secret"),
            timeout=10,
        )
        resp.raise_for_status()
        return dict(resp.json())

    def settings(self, base_url: str) -> list[str]:
        """``--set`` arguments of an ``http`` instance that signs in here."""
        m = self.meta
        pairs = {
            "base_url": base_url,
            "auth_type": "oauth2",
            "authorize_url": m["authorization_endpoint"],
            "token_url": m["token_endpoint"],
            "revocation_url": m["revocation_endpoint"],
            "device_authorization_url": m["device_authorization_endpoint"],
            "client_id": CLIENT_ID,
            "scopes": SCOPES,
        }
        out: list[str] = []
        for key, value in pairs.items():
            out += ["--set", f"{key}={value}"]
        return out


@pytest.fixture
def oidc(tmp_path: Path) -> Iterator[Oidc]:
    """A fresh oidc-provider on 127.0.0.1:<random port> (node; skipped locally without it)."""
    require(node_ready(), "node and oidc-provider (run .ci/setup.d/10-node-oidc.sh)")
    log = (tmp_path / "oidc.log").open("w")
    proc = subprocess.Popen(
        ["node", "provider.mjs"], cwd=OIDC_DIR, stdout=subprocess.PIPE, stderr=log, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            proc.wait(5)
            pytest.fail(f"oidc-provider did not start: {(tmp_path / 'oidc.log').read_text()}")
        issuer = json.loads(line)["issuer"]
        meta = httpx.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
        yield Oidc(issuer, meta)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
        log.close()


@dataclass
class ResourceApi:
    """A resource server that accepts a bearer token only if the provider says it is active."""

    server: LoopbackServer
    seen: list[str] = field(default_factory=list)
    reject_first: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def resource(oidc: Oidc) -> Iterator[ResourceApi]:
    with LoopbackServer() as server:
        api = ResourceApi(server)

        def protected(req: RecordedRequest) -> Reply:
            auth = req.headers.get("authorization", "")
            if not auth.startswith("Bearer "):
                return Reply(401, {"error": "missing bearer token"})
            token = auth[len("Bearer ") :]
            with api.lock:
                api.seen.append(token)
                if api.reject_first > 0:
                    api.reject_first -= 1
                    return Reply(401, {"error": "invalid_token"})
            info = oidc.introspect(token)
            if not info.get("active"):
                return Reply(
                    401, {"error": "invalid_token"}, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
                )
            return Reply(
                200, {"sub": info.get("sub"), "scope": info.get("scope"), "clientId": info.get("client_id")}
            )

        for path in ("/", "/me"):
            server.route("GET", path, protected)
        yield api


def run(
    home: Path, *args: str, input: str | None = None, timeout: float = 90, **env: str
) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess (never a TTY)."""
    return subprocess.run(
        [*CLI, *args],
        env=cli_env(home, **env),
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def install(*args: str) -> dict[str, Any]:
    """``connector install`` in-process; the instance as JSON."""
    result = cli("--json", "connector", "install", *args)
    assert result.exit_code == 0, result.stdout + result.stderr
    return dict(result.json())


def secrets_in(texts: Iterable[str | bytes], secrets: Iterable[str]) -> list[str]:
    """The secrets (at least 6 characters) that appear in any of ``texts``."""
    blobs = [t.encode() if isinstance(t, str) else t for t in texts]
    return sorted({s for s in secrets if len(s) >= 6 and any(s.encode() in b for b in blobs)})


def store_bytes(home: Path) -> list[bytes]:
    """The SQLite store as files on disk (main, WAL and shared memory) and as rows."""
    out = [p.read_bytes() for p in home.glob("fabric.db*")]
    conn = sqlite3.connect(home / "fabric.db")
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            out.append(repr(conn.execute(f"SELECT * FROM {table}").fetchall()).encode())
    finally:
        conn.close()
    return out
