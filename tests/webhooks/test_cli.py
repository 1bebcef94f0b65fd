"""`webhooks endpoints|sign|send` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cuervo_fabric.sdk import GitHubSignature, IncomingWebhook
from cuervo_fabric.testing import LoopbackServer, Reply
from tests.helpers import cli, db_snapshot
from tests.webhooks.test_signatures import SLACK_BODY


def test_endpoints_use_the_configured_public_url_unless_overridden(home: Path):
    """The URL's base comes from --base-url, else webhooks.public_url; removing it works once."""
    assert cli("connector", "install", "github", "--name", "gh", "--no-input").exit_code == 0
    assert cli("config", "set", "webhooks.public_url", "https://hooks.example.com/").exit_code == 0
    shown = cli("--json", "webhooks", "endpoints", "gh").json()
    assert shown["url"].startswith(f"https://hooks.example.com/webhooks/{shown['instanceId']}/")
    assert shown["scheme"] == "github"
    assert shown["created"] is True
    other = cli("--json", "webhooks", "endpoints", "gh", "--base-url", "http://10.0.0.7:8080").json()
    assert other["url"] == shown["url"].replace("https://hooks.example.com", "http://10.0.0.7:8080")
    assert other["secret"] == shown["secret"]
    assert cli("--json", "webhooks", "endpoints", "gh", "--remove").json()["removed"] is True
    assert cli("--json", "webhooks", "endpoints", "gh", "--remove").json()["removed"] is False


def test_endpoints_refuse_a_connector_that_receives_no_webhooks(home: Path):
    """The generic http connector has no webhooks: INVALID_STATE, nothing written."""
    assert (
        cli(
            "connector", "install", "http", "--name", "api", "--set", "base_url=http://x", "--no-input"
        ).exit_code
        == 0
    )
    before = db_snapshot(home)
    out = cli("--json", "webhooks", "endpoints", "api")
    assert (out.exit_code, out.error["code"]) == (5, "INVALID_STATE")
    assert db_snapshot(home) == before


def test_sign_reproduces_the_providers_vectors(home: Path, monkeypatch: pytest.MonkeyPatch):
    """`webhooks sign` gives GitHub's documented signature and Slack's at a fixed timestamp."""
    monkeypatch.setenv("GH_SECRET", "It's a Secret to Everybody")
    gh = cli(
        "--json", "webhooks", "sign", "--scheme", "github", "--secret-env", "GH_SECRET", "-d", "Hello, World!"
    )
    assert gh.json()["headers"]["X-Hub-Signature-256"] == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )
    slack = cli(
        "--json",
        "webhooks",
        "sign",
        "--scheme",
        "slack",
        "--timestamp",
        "1531420618",
        "-d",
        SLACK_BODY.decode(),
        input="8f742231b10e8888abcd99yyyzzz85a5\n",
    )
    headers = slack.json()["headers"]
    assert headers["X-Slack-Request-Timestamp"] == "1531420618"
    assert (
        headers["X-Slack-Signature"] == "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    )
    assert "8f742231b10e8888abcd99yyyzzz85a5" not in slack.stdout
    human = cli("webhooks", "sign", "--scheme", "github", "--secret-env", "GH_SECRET", "--event", "push")
    assert "X-GitHub-Event: push" in human.stdout


def test_sign_needs_a_secret_source_when_the_body_comes_from_stdin(home: Path):
    """Body on stdin and secret on stdin cannot both be: INVALID_INPUT, telling which flags to use."""
    out = cli("--json", "webhooks", "sign", "--scheme", "github", "-d", "-", input="{}")
    assert (out.exit_code, out.error["code"]) == (2, "INVALID_INPUT")
    assert "--secret-file" in out.error["message"]


def test_send_posts_a_correctly_signed_payload_and_reports_failures(home: Path, tmp_path: Path):
    """`webhooks send` signs like GitHub; the far side verifies it; a non-2xx answer exits 11."""
    secret_file = tmp_path / "secret"
    secret_file.write_text("s3cret\n")
    (tmp_path / "push.json").write_text(json.dumps({"ref": "refs/heads/main"}))
    with LoopbackServer() as server:
        server.route("POST", "/in", [Reply(202, {"ok": True}), Reply(401, {"error": "bad"})])
        ok = cli(
            "--json",
            "webhooks",
            "send",
            server.url + "/in",
            "--scheme",
            "github",
            "--event",
            "push",
            "--secret-file",
            str(secret_file),
            "-d",
            f"@{tmp_path / 'push.json'}",
            "--id",
            "d-1",
        )
        bad = cli(
            "--json",
            "webhooks",
            "send",
            server.url + "/in",
            "--scheme",
            "gitlab",
            "--secret-file",
            str(secret_file),
        )
        [first, second] = server.calls("POST", "/in")
    assert ok.exit_code == 0
    assert ok.json()["status"] == 202
    assert first.headers["x-github-event"] == "push"
    assert first.headers["x-github-delivery"] == "d-1"
    GitHubSignature().verify("s3cret", IncomingWebhook.build(first.headers, first.body))
    assert bad.exit_code == 11
    assert second.headers["x-gitlab-token"] == "s3cret"
    assert "s3cret" not in bad.stdout
