"""Recording mode: a real provider's answers are saved once with secrets scrubbed, then replayed strictly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cuervo_fabric.testing import Cassette, FabricHarness, LoopbackServer, RecordedRequest, Reply

TOKEN = "ghp_recording_secret_123"
CLIENT_SECRET = "client-secret-xyz"


def _upstream() -> LoopbackServer:
    """A 'real' provider: needs the token, pages with absolute Link URLs, echoes secrets back."""
    server = LoopbackServer()

    def repos(req: RecordedRequest) -> Reply:
        if req.headers.get("authorization") != f"Bearer {TOKEN}":
            return Reply(401, {"message": "Bad credentials"})
        page = req.query.get("page", ["1"])[0]
        if page == "1":
            link = f'<{server.url}/user/repos?page=2>; rel="next"'
            return Reply(
                200, [{"name": "a", "deploy_token": "dt-999", "owner": CLIENT_SECRET}], {"Link": link}
            )
        return Reply(200, [{"name": "b", "note": f"seen token {TOKEN}"}])

    server.route("GET", "/user/repos", repos)
    return server


def _list_repos(fabric: FabricHarness, base_url: str, token: str) -> object:
    inst = fabric.install("http", {"base_url": base_url, "auth_type": "bearer_token"}, credential=token)
    result = fabric.exec(inst, "request", {"path": "/user/repos", "query": {"page": 1}})
    assert result.success, result.error
    return result.data["body"]


def test_record_then_replay_without_the_provider_or_its_secrets(tmp_path: Path) -> None:
    """Recording proxies to the provider and stores no secret; replay needs neither provider nor token."""
    tape_file = tmp_path / "cassettes" / "repos.json"
    with _upstream() as upstream:
        with (
            Cassette(tape_file, upstream=upstream.url, secrets=[CLIENT_SECRET]) as tape,
            FabricHarness(tmp_path / "rec") as fabric,
        ):
            assert tape.mode == "record"
            first = _list_repos(fabric, tape.url, TOKEN)
            page2 = fabric.exec(
                fabric.instance("http"), "request", {"path": "/user/repos", "query": {"page": 2}}
            )
        upstream_url = upstream.url
    assert first == [{"name": "a", "deploy_token": "dt-999", "owner": CLIENT_SECRET}]
    assert page2.data["body"][0]["name"] == "b"

    text = tape_file.read_text()
    for secret in (TOKEN, CLIENT_SECRET, "dt-999", upstream_url):
        assert secret not in text, f"{secret!r} leaked into the fixture"
    doc = json.loads(text)
    assert doc["interactions"][0]["response"]["headers"]["link"].startswith(
        "<{{base_url}}/user/repos?page=2>"
    )
    assert "authorization" not in json.dumps(doc["interactions"][0]["request"]).lower()

    # Replay: the provider is gone, and the token is a different (fake) one.
    with Cassette(tape_file) as replay, FabricHarness(tmp_path / "replay") as fabric:
        assert replay.mode == "replay"
        again = _list_repos(fabric, replay.url, "any-fake-token")
        fabric.exec(fabric.instance("http"), "request", {"path": "/user/repos", "query": {"page": 2}})
    assert again == [{"name": "a", "deploy_token": "[SCRUBBED]", "owner": "[SCRUBBED]"}]


def test_replay_is_strict(tmp_path: Path) -> None:
    """Replay fails on a request that was not recorded and on a recorded one that never came."""
    tape_file = tmp_path / "one.json"
    with (
        _upstream() as upstream,
        Cassette(tape_file, upstream=upstream.url) as tape,
        FabricHarness(tmp_path / "rec") as fabric,
    ):
        _list_repos(fabric, tape.url, TOKEN)
    replay = Cassette(tape_file)
    with pytest.raises(AssertionError, match="never replayed"), replay:
        pass
    strict = Cassette(tape_file)
    with strict, FabricHarness(tmp_path / "replay") as fabric:
        inst = fabric.install("http", {"base_url": strict.url})
        fabric.exec(inst, "request", {"path": "/user/repos", "query": {"page": 1}})
        unknown = fabric.exec(inst, "request", {"path": "/elsewhere"})
        assert unknown.error is not None
        assert unknown.error["status"] == 501
        with pytest.raises(AssertionError, match="not in the cassette"):
            strict.verify()
        strict.unexpected.clear()


def test_recording_needs_an_upstream(tmp_path: Path) -> None:
    """A missing fixture without an upstream URL is a clear error, not an empty cassette."""
    with pytest.raises(ValueError, match="no upstream"):
        Cassette(tmp_path / "missing.json")
