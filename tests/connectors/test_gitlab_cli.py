"""The gitlab connector through the real CLI against a loopback server speaking GitLab's wire format."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cuervo_fabric_gitlab.connector import GitLabConnector

from cuervo_fabric.sdk import IncomingWebhook, WebhookSignatureError
from cuervo_fabric.testing import Reply
from tests.connectors.conftest import active_gitlab, data, install, login, run
from tests.connectors.fakes import FakeGitLab
from tests.helpers import cli


def test_self_managed_base_url_and_private_token(gitlab: FakeGitLab) -> None:
    """Every request goes to base_url (/api/v4 on the host) with PRIVATE-TOKEN; nested namespaces work."""
    active_gitlab(gitlab)
    project = data("gl", "repo.read", owner="acme/platform", repo="app")
    assert (project["fullName"], project["defaultBranch"], project["isPrivate"]) == (
        "acme/platform/app",
        "main",
        True,
    )
    assert gitlab.server.calls("GET", "/api/v4/projects/acme%2Fplatform%2Fapp")
    assert all(r.headers.get("private-token") == gitlab.token for r in gitlab.api_requests())
    assert all("authorization" not in r.headers for r in gitlab.api_requests())


def test_oauth_bearer_tokens_work_too(gitlab: FakeGitLab) -> None:
    """auth_type bearer_token (an OAuth token) is sent as Authorization: Bearer."""
    install("gitlab", "gl", gitlab.url, "auth_type=bearer_token")
    login("gl", "--with-token", gitlab.token)
    assert data("gl", "repo.read", owner="acme", repo="tools")["isPrivate"] is False
    assert gitlab.api_requests()[-1].headers["authorization"] == f"Bearer {gitlab.token}"


@pytest.mark.parametrize("link_header", [True, False], ids=["link", "x-next-page"])
def test_lists_page_through_link_or_x_next_page(link_header: bool) -> None:
    """GitLab's pages are followed through Link rel="next", or x-next-page when no Link comes."""
    fake = FakeGitLab(link_header=link_header)
    for n in range(9):
        fake.add_project("acme", f"p{n}")
    fake.start()
    try:
        active_gitlab(fake)
        assert len(data("gl", "repo.list", per_page=4)) == 4
        everything = data("gl", "repo.list", per_page=4, all=True)
        assert [p["fullName"] for p in everything] == [p["path_with_namespace"] for p in fake.projects]
        assert len(data("gl", "repo.list", per_page=4, max_items=5)) == 5
        pages = list(fake.server.calls("GET", "/api/v4/projects"))
        assert {r.query.get("page", ["?"])[0] for r in pages} >= {"1", "2", "3"}
    finally:
        fake.stop()


def test_merge_requests_issues_and_pipelines(gitlab: FakeGitLab) -> None:
    """MR create (draft), approve, line comment, merge; issues with assignees; a pipeline with variables."""
    active_gitlab(gitlab)
    where = {"owner": "acme/platform", "repo": "app"}
    mr = data(
        "gl", "pr.create", **where, title="Add feature", head="feature", base="main", body="Why", draft=True
    )
    assert (mr["number"], mr["state"], mr["draft"], mr["title"]) == (1, "open", True, "Draft: Add feature")
    assert gitlab.mrs[0]["source_branch"] == "feature"
    review = data("gl", "pr.review", **where, number=1, event="APPROVE")
    assert (review["state"], review["author"]) == ("approved", "alice")
    assert data("gl", "pr.read", **where, number=1)["reviewStatus"] == "approved"
    data("gl", "pr.comment", **where, number=1, body="Looks good")
    assert gitlab.notes[-1]["body"] == "Looks good"
    assert run("gl", "pr.merge", **where, number=1, method="rebase").error["field"] == "method"
    merged = data("gl", "pr.merge", **where, number=1, commit_title="Feature")
    assert merged == {"merged": True, "sha": "c" * 40, "message": "Merge request merged"}
    assert [p["state"] for p in data("gl", "pr.list", **where, state="merged")] == ["merged"]

    issue = data("gl", "issue.create", **where, title="Broken", labels=["bug"], assignees=["alice"])
    assert (issue["assignees"], issue["labels"]) == (["alice"], ["bug"])
    assert run("gl", "issue.create", **where, title="x", assignees=["nobody"]).error["code"] == "NOT_FOUND"
    closed = data("gl", "issue.update", **where, number=issue["number"], state="closed")
    assert closed["state"] == "closed"
    assert [i["title"] for i in data("gl", "issue.list", **where)] == ["Crash on start"]

    pipeline = data("gl", "actions.trigger", **where, workflow="ignored", inputs={"DEPLOY": "1"})
    assert (pipeline["status"], pipeline["branch"], pipeline["event"]) == ("queued", "main", "api")
    assert gitlab.pipelines[-1]["_variables"] == [{"key": "DEPLOY", "value": "1", "variable_type": "env_var"}]
    status = data("gl", "actions.status", **where, run_id=int(pipeline["id"]))
    assert status["jobs"][0]["status"] == "in_progress"
    assert [r["id"] for r in data("gl", "actions.list", **where)] == [pipeline["id"]]
    assert data("gl", "search.code", query="main", **where)[0]["url"].endswith(
        "/acme/platform/app/-/blob/main/src/app.py"
    )
    assert [i["title"] for i in data("gl", "search.issues", query="crash")] == ["Crash on start"]


def test_gitlab_errors_and_health(gitlab: FakeGitLab) -> None:
    """404 is NOT_FOUND, 429 RATE_LIMITED; health tells a revoked token from an outage."""
    active_gitlab(gitlab)
    assert run("gl", "repo.read", owner="acme", repo="missing").error["code"] == "NOT_FOUND"
    gitlab.fail(
        "GET", "/projects/acme%2Ftools", *[Reply(429, {"message": "Retry later"}, {"Retry-After": "90"})] * 4
    )
    limited = run("gl", "repo.read", owner="acme", repo="tools").error
    assert (limited["code"], limited["retryAfterMs"] >= 80_000) == ("RATE_LIMITED", True)
    active_gitlab(gitlab, "gl2")  # gl is now blocked for 90 s by the 429, as it should be
    gitlab.token = "revoked"
    report = cli("--json", "health", "gl2").json()
    assert (report["status"], report["details"]["authValid"]) == ("unhealthy", False)
    assert "revoked" in report["details"]["lastError"]


def test_webhooks_register_with_a_token_and_route_events(gitlab: FakeGitLab) -> None:
    """Hooks carry the secret as GitLab's token; X-Gitlab-Token verifies; events route by kind and action."""
    inst = active_gitlab(gitlab)
    url = f"https://hooks.example/webhooks/{inst['instanceId']}/tok"
    hook = data(
        "gl",
        "webhook.register",
        owner="acme/platform",
        repo="app",
        url=url,
        secret="t0ken",
        events=["merge_requests", "pipeline"],
    )
    assert hook["events"] == ["merge_requests", "pipeline"]
    assert gitlab.hooks[0]["_token"] == "t0ken"
    assert run("gl", "webhook.register", owner="acme", repo="tools", url=url, events=["pushes"]).error[
        "field"
    ] == ("events")
    assert data("gl", "webhook.unregister", owner="acme/platform", repo="app") == {"removed": [hook["id"]]}

    spec = GitLabConnector.webhook
    samples = [
        (
            "Merge Request Hook",
            {"object_kind": "merge_request", "object_attributes": {"action": "open"}},
            "gitlab.merge_request.open",
        ),
        (
            "Pipeline Hook",
            {"object_kind": "pipeline", "object_attributes": {"status": "success"}},
            "gitlab.pipeline.success",
        ),
        (
            "Note Hook",
            {"object_kind": "note", "object_attributes": {"noteable_type": "MergeRequest"}},
            "gitlab.note.merge_request",
        ),
        ("Push Hook", {"object_kind": "push", "ref": "refs/heads/main"}, "gitlab.push"),
        ("Job Hook", {"object_kind": "build", "build_status": "failed"}, "gitlab.build.failed"),
    ]
    for event, payload, expected in samples:
        body = json.dumps(payload).encode()
        headers = {"X-Gitlab-Event": event, "X-Gitlab-Event-UUID": "u-1", **spec.verifier.sign("t0ken", body)}
        req = IncomingWebhook.build(headers, body)
        spec.verifier.verify("t0ken", req)
        assert (spec.event_type(req), spec.delivery_id(req)) == (expected, "u-1")
        with pytest.raises(WebhookSignatureError):
            spec.verifier.verify("other", req)
    received = data(
        "gl",
        "webhook.receive",
        headers={"X-Gitlab-Event": "Issue Hook", "X-Gitlab-Token": "t0ken", "Idempotency-Key": "k-9"},
        body=json.dumps({"object_kind": "issue", "object_attributes": {"action": "close"}}),
        secret="t0ken",
    )
    assert (received["eventType"], received["deliveryId"], received["verified"]) == (
        "gitlab.issue.close",
        "k-9",
        True,
    )


def test_clone_offers_the_token_as_oauth2(gitlab: FakeGitLab, tmp_path: Path) -> None:
    """repo.clone of a GitLab project presents `oauth2:<token>` to git, from the environment only."""
    from tests.connectors.test_github_cli import _bare_repo

    gitlab.git_dir = _bare_repo(tmp_path)
    active_gitlab(gitlab)
    target = tmp_path / "clone"
    out = data("gl", "repo.clone", owner="acme/platform", repo="app", directory=str(target))
    assert (target / "README.md").exists()
    assert out["ref"] == "main"
    config = (target / ".git" / "config").read_text()
    assert gitlab.token not in config
    log = subprocess.run(
        ["git", "-C", str(target), "log", "--oneline"], capture_output=True, text=True, check=True
    )
    assert len(log.stdout.splitlines()) == 1
