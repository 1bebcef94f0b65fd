"""A connector written only against `cuervo_fabric.sdk`, in its own package, joins a fresh install
through its entry point (`connector install ./path`), runs `exec` through the full pipeline, and
has its webhooks verified by the receiver (`serve`).
"""

from __future__ import annotations

import ast
import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from cuervo_fabric.sdk import StandardWebhooks
from cuervo_fabric.sdk._scaffold import variants
from cuervo_fabric.testing import LoopbackServer, Reply
from tests.conftest import TEST_KEY
from tests.helpers import cli
from tests.sdk._venv import ROOT, clean_env, describe, make_venv, run

FIXTURE = Path(__file__).parent / "fixtures" / "notes_connector"
PUBLIC = ("cuervo_fabric.sdk", "cuervo_fabric.testing", "cuervo_fabric.errors")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_fixture_and_templates_import_only_the_public_api(tmp_path: Path) -> None:
    """The fixture connector and every rendered template import no cuervo_fabric internals."""
    for variant in variants():
        out = cli("sdk", "new", f"probe-{variant}", "--template", variant, "--dir", str(tmp_path / variant))
        assert out.exit_code == 0, out.stderr
    files = [*FIXTURE.rglob("*.py"), *tmp_path.rglob("*.py")]
    assert len(files) > 4
    for path in files:
        internal = {
            m
            for m in _imports(path)
            if (m == "cuervo_fabric" or m.startswith("cuervo_fabric.")) and m not in PUBLIC
        }
        assert not internal, f"{path} imports internals: {sorted(internal)}"


def _notes_api() -> LoopbackServer:
    server = LoopbackServer()
    pages = {"0": [{"id": "n1"}, {"id": "n2"}], "2": [{"id": "n3"}]}

    def notes(req: object) -> Reply:
        offset = req.query.get("offset", ["0"])[0]  # type: ignore[attr-defined]
        return Reply(200, {"notes": pages.get(offset, [])})

    server.route("GET", "/notes", notes)
    server.route("GET", "/health", Reply(200, {"ok": True}))
    return server


@pytest.mark.slow
def test_third_party_connector_installs_runs_and_receives_webhooks(tmp_path: Path) -> None:
    """connector install ./path pip-installs it; exec runs the pipeline; serve verifies its webhooks."""
    venv_dir = make_venv(tmp_path / "venv", "-e", str(ROOT))
    home = tmp_path / "home"
    env = clean_env(
        venv_dir, CUERVO_FABRIC_HOME=str(home), CUERVO_FABRIC_KEY=TEST_KEY, CUERVO_FABRIC_NO_SLEEP="1"
    )
    cf = str(venv_dir / "bin" / "cuervo-fabric")

    with _notes_api() as api:
        # Before: the registry of the fresh install has no notes connector.
        before = run([cf, "--json", "connector", "available"], tmp_path, env)
        assert before.returncode == 0, describe(before)
        assert "notes" not in {c["id"] for c in json.loads(before.stdout)}

        installed = run(
            [
                cf,
                "--json",
                "connector",
                "install",
                str(FIXTURE),
                "--name",
                "mynotes",
                "--set",
                f"base_url={api.url}",
            ],
            tmp_path,
            env,
        )
        assert installed.returncode == 0, describe(installed)
        assert json.loads(installed.stdout)["connectorId"] == "notes"

        listed = json.loads(run([cf, "--json", "connector", "available", "notes"], tmp_path, env).stdout)
        assert listed["firstParty"] is False
        assert {c["id"] for c in listed["capabilities"]} == {
            "note.list",
            "note.create",
            "note.get",
            "note.watch",
        }

        login = subprocess.run(
            [cf, "--json", "auth", "login", "mynotes", "--with-token"],
            input="tok-third-party\n",
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert login.returncode == 0, describe(login)

        out = run([cf, "--json", "exec", "mynotes", "note.list"], tmp_path, env)
        assert out.returncode == 0, describe(out)
        result = json.loads(out.stdout)
        assert result["success"] is True
        assert result["data"] == [{"id": "n1"}, {"id": "n2"}, {"id": "n3"}]
        assert result["metadata"]["apiCalls"] == 2
        sent = api.calls("GET", "/notes")
        assert sent
        assert all(r.headers["authorization"] == "Bearer tok-third-party" for r in sent)

        bad = run([cf, "--json", "exec", "mynotes", "note.create", "-p", "title="], tmp_path, env)
        assert bad.returncode == 2, describe(bad)
        assert json.loads(bad.stdout)["error"]["code"] == "INVALID_INPUT"
        assert api.calls("POST", "/notes") == []

    # Webhooks: the receiver verifies the connector's declared scheme (Standard Webhooks).
    ep = run([cf, "--json", "webhooks", "endpoints", "mynotes", "--base-url", "http://base"], tmp_path, env)
    assert ep.returncode == 0, describe(ep)
    endpoint = json.loads(ep.stdout)
    path, secret = endpoint["url"].removeprefix("http://base"), endpoint["secret"]
    body = json.dumps({"type": "note.created", "id": "n9"}).encode()
    signed = {"Content-Type": "application/json", **StandardWebhooks().sign(secret, body)}
    proc = subprocess.Popen(
        [cf, "--json", "serve", "--port", "0", "--no-deliver"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        if '"url"' not in first:
            proc.wait(10)
            pytest.fail(
                f"serve did not start: {first}{proc.stdout.read()}{proc.stderr.read() if proc.stderr else ''}"
            )
        url = json.loads(first)["url"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        forged = httpx.post(url + path, content=body, headers={**signed, "webhook-signature": "v1,AAAA"})
        accepted = httpx.post(url + path, content=body, headers=signed)
    finally:
        proc.terminate()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert forged.status_code == 401, forged.text
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["eventType"] == "notes.note.created"
    events = json.loads(run([cf, "--json", "events", "list"], tmp_path, env).stdout)
    assert [e["type"] for e in events] == ["notes.note.created"]
