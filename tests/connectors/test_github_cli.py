"""The github connector through the real CLI against a loopback server speaking GitHub's wire format."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cuervo_fabric_github.connector import GitHubConnector

from cuervo_fabric.errors import EXIT_CODES
from cuervo_fabric.testing import Reply
from tests._require import require
from tests.conftest import CLI, cli_env
from tests.connectors.conftest import active_github, data, install, run
from tests.connectors.fakes import FakeGitHub
from tests.helpers import cli


def test_pr_create_works_in_a_script_and_names_a_missing_parameter(github: FakeGitHub, home: Path) -> None:
    """`exec github pr.create -p ... --json` in a subprocess; without `base`: INVALID_INPUT, nothing sent."""
    env = cli_env(home)

    def sh(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60)

    assert sh("connector", "install", "github", "--set", f"base_url={github.url}").returncode == 0
    assert sh("auth", "login", "github", "--with-token", stdin=github.token + "\n").returncode == 0
    args = [
        "exec",
        "github",
        "pr.create",
        "-p",
        "owner=octo",
        "-p",
        "repo=app",
        "-p",
        "title=t",
        "-p",
        "head=h",
    ]
    done = sh(*args, "-p", "base=main", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["success"] is True
    assert result["data"]["title"] == "t"
    assert result["data"]["state"] == "open"
    assert (result["data"]["sourceBranch"], result["data"]["targetBranch"]) == ("h", "main")
    assert github.server.calls("POST", "/repos/octo/app/pulls")[0].json() == {
        "title": "t",
        "head": "h",
        "base": "main",
    }

    sent = len(github.requests)
    missing = sh(*args, "--json")
    assert missing.returncode == EXIT_CODES["INVALID_INPUT"]
    error = json.loads(missing.stdout)["error"]
    assert error["code"] == "INVALID_INPUT"
    assert "base" in error["message"]
    assert error["field"] == "base"
    assert len(github.requests) == sent, "a request was sent despite the missing parameter"


def test_lists_follow_link_headers_with_all_and_max_items(github: FakeGitHub) -> None:
    """One page by default; `all` follows rel="next" to the end; `max_items` stops early."""
    for n in range(7):
        github.add_repo("octo", f"extra{n}")
    active_github(github)
    assert len(data("gh", "repo.list", per_page=2)) == 2
    before = len(github.server.calls("GET", "/user/repos"))
    everything = data("gh", "repo.list", per_page=2, all=True)
    assert [r["fullName"] for r in everything] == [r["full_name"] for r in github.repos]
    assert len(github.server.calls("GET", "/user/repos")) - before == 5
    assert len(data("gh", "repo.list", per_page=2, max_items=3)) == 3
    assert [
        i["title"] for i in data("gh", "issue.list", owner="octo", repo="app", state="all", all=True)
    ] == [
        "Crash on start",
        "Old report",
    ]


def test_a_304_serves_the_stored_body(github: FakeGitHub) -> None:
    """The second read sends If-None-Match; GitHub's 304 is answered with the body stored with the ETag."""
    active_github(github)
    first = data("gh", "repo.read", owner="octo", repo="app")
    second = data("gh", "repo.read", owner="octo", repo="app")
    assert first == second
    calls = github.server.calls("GET", "/repos/octo/app")
    assert "if-none-match" not in calls[0].headers
    assert calls[-1].headers["if-none-match"].startswith('W/"')
    assert github.not_modified == 1


@pytest.mark.parametrize(
    ("reply", "retry_after_ms"),
    [
        (Reply(403, {"message": "API rate limit exceeded"}, {"x-ratelimit-remaining": "0"}), None),
        (Reply(403, {"message": "You have exceeded a secondary rate limit."}, {"retry-after": "60"}), 60_000),
        (Reply(429, {"message": "Too many requests"}, {"retry-after": "120"}), 120_000),
    ],
    ids=["primary", "secondary", "429"],
)
def test_rate_limit_responses_are_rate_limited(
    github: FakeGitHub, reply: Reply, retry_after_ms: int | None
) -> None:
    """GitHub's primary limit (403, remaining 0), secondary limit and 429 are RATE_LIMITED, not denials."""
    active_github(github)
    if reply.headers.get("x-ratelimit-remaining") == "0":
        reply.headers["x-ratelimit-reset"] = str(int(time.time()) + 30)
    github.fail("GET", "/repos/octo/app", *[reply] * 4)
    res = run("gh", "repo.read", owner="octo", repo="app")
    assert res.exit_code == EXIT_CODES["RATE_LIMITED"], res.stdout
    err = res.error
    assert err["code"] == "RATE_LIMITED"
    assert err["retryable"] is True
    if retry_after_ms is not None:
        assert err["retryAfterMs"] >= retry_after_ms * 0.9


def test_provider_errors_keep_their_codes(github: FakeGitHub) -> None:
    """404 NOT_FOUND, a 5xx that lasts UPSTREAM_ERROR after the retries, a 422 with GitHub's message."""
    active_github(github)
    assert run("gh", "repo.read", owner="octo", repo="nope").error["code"] == "NOT_FOUND"
    github.fail("GET", "/repos/octo/app/pulls", *[Reply(502, {"message": "Server Error"})] * 4)
    res = run("gh", "pr.list", owner="octo", repo="app")
    assert res.error["code"] == "UPSTREAM_ERROR"
    assert len(github.server.calls("GET", "/repos/octo/app/pulls")) == 4
    github.fail("POST", "/repos/octo/app/pulls", Reply(422, {"message": "Validation Failed: head invalid"}))
    res = run("gh", "pr.create", owner="octo", repo="app", title="t", head="nope", base="main")
    assert "Validation Failed" in res.error["message"]
    # owner and repo are path segments: no walking the API's tree
    assert run("gh", "repo.read", owner="..", repo="..").error["code"] == "NOT_FOUND"
    assert all("/../" not in r.path for r in github.requests)


def _health(name: str) -> dict:
    res = cli("--json", "health", name)
    return dict(res.json())


def test_health_tells_revoked_from_down_from_rate_limited(github: FakeGitHub) -> None:
    """401 -> auth invalid; 503 or no server -> unreachable; an exhausted limit -> degraded."""
    for name in ("ok", "revoked", "down", "gone", "limited"):
        active_github(github, name)

    def details(name: str) -> tuple[str, bool, bool, bool]:
        report = dict(cli("--json", "health", name).json())
        d = report["details"]
        return (
            report["status"],
            d.get("authValid", True),
            d.get("serviceReachable", True),
            d.get("rateLimitOk", True),
        )

    assert details("ok") == ("healthy", True, True, True)
    github.token = "rotated"  # the stored token no longer works: revoked
    assert details("revoked") == ("unhealthy", False, True, True)
    assert "revoked" in cli("--json", "health", "revoked").json()["details"]["lastError"]
    github.token = "ghp_test_token"
    github.fail("GET", "/rate_limit", *[Reply(503, {"message": "Unicorn!"})] * 4)
    assert details("down") == ("unhealthy", True, False, True)
    assert cli("connector", "update", "gone", "--set", "base_url=http://127.0.0.1:9").exit_code == 0
    assert details("gone") == ("unhealthy", True, False, True)
    github.remaining = 0
    assert details("limited")[0] == "degraded"
    assert details("limited")[1:3] == (True, True)


def test_enterprise_server_dispatch_finds_the_run_it_started() -> None:
    """GHES (base_url .../api/v3): a 204 dispatch, then polling for the new run, reusing 304s."""
    fake = FakeGitHub(enterprise=True)
    fake.add_repo("octo", "app")
    old = fake.new_run("octo", "app", "ci.yml", "main", event="workflow_dispatch")
    fake.runs.append(old)
    fake.run_visible_after = 2
    fake.start()
    try:
        active_github(fake)
        run_ = data(
            "gh",
            "actions.trigger",
            owner="octo",
            repo="app",
            workflow="ci.yml",
            ref="main",
            inputs={"level": "debug"},
        )
        assert run_["id"] != str(old["id"])
        assert (run_["event"], run_["branch"], run_["status"]) == ("workflow_dispatch", "main", "queued")
        dispatch = fake.server.calls("POST", "/api/v3/repos/octo/app/actions/workflows/ci.yml/dispatches")[0]
        assert dispatch.json() == {"ref": "main", "inputs": {"level": "debug"}}
        polls = fake.server.calls("GET", "/api/v3/repos/octo/app/actions/workflows/ci.yml/runs")
        assert polls[-1].query["event"] == ["workflow_dispatch"]
        assert polls[-1].query["created"][0].startswith(">=")
        assert fake.not_modified >= 1, "unchanged run lists were downloaded again"
        assert all(r.headers.get("x-github-api-version") == "2022-11-28" for r in fake.api_requests())

        fake.run_visible_after = 10_000
        res = run("gh", "actions.trigger", owner="octo", repo="app", workflow="ci.yml", ref="main")
        err = res.error
        assert (err["code"], err["retryable"], err["dispatched"]) == ("TIMEOUT", False, True)
        polled = len(fake.server.calls("GET", "/api/v3/repos/octo/app/actions/workflows/ci.yml/runs"))
        assert polled - len(polls) <= 20, "polling was not bounded"
    finally:
        fake.stop()


def test_dotcom_dispatch_asks_for_the_run_details(github: FakeGitHub) -> None:
    """On github.com the dispatch returns the run id (return_run_details): no polling at all."""
    active_github(github, "gh", "api_version=2026-03-10")
    run_ = data("gh", "actions.trigger", owner="octo", repo="app", workflow="ci.yml")
    assert run_["branch"] == "main"
    assert github.server.calls("POST", "/repos/octo/app/actions/workflows/ci.yml/dispatches")[0].json() == {
        "ref": "main",
        "inputs": {},
        "return_run_details": True,
    }
    assert not github.server.calls("GET", "/repos/octo/app/actions/workflows/ci.yml/runs")
    assert github.server.calls("GET", f"/repos/octo/app/actions/runs/{run_['id']}")
    assert {r.headers["x-github-api-version"] for r in github.api_requests()} == {"2026-03-10"}
    status = data("gh", "actions.status", owner="octo", repo="app", run_id=int(run_["id"]))
    assert status["jobs"][0]["name"] == "build"


def _bare_repo(tmp_path: Path) -> Path:
    require(shutil.which("git") is not None, "git (repo.clone runs it)")
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    work, bare = tmp_path / "work", tmp_path / "app.git"

    def git(*args: str, cwd: Path = tmp_path) -> None:
        subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)

    git("init", "-q", "-b", "main", str(work))
    (work / "README.md").write_text("hello\n")
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    git("clone", "-q", "--bare", str(work), str(bare))
    git("update-server-info", cwd=bare)
    return bare


def test_clone_uses_the_credential_without_writing_it(github: FakeGitHub, tmp_path: Path) -> None:
    """repo.clone runs git with the instance's token through GIT_ASKPASS: nothing on disk holds it."""
    github.git_dir = _bare_repo(tmp_path)
    active_github(github)
    target = tmp_path / "clone"
    out = data("gh", "repo.clone", owner="octo", repo="app", directory=str(target))
    assert (target / "README.md").read_text() == "hello\n"
    assert (out["ref"], len(out["commit"])) == ("main", 40)
    for path in target.rglob("*"):
        if path.is_file():
            assert github.token.encode() not in path.read_bytes(), f"the token is in {path}"
    git_hits = [r for r in github.requests if ".git/" in r.path]
    assert any(r.headers.get("authorization", "").startswith("Basic ") for r in git_hits)

    refused = run("gh", "repo.clone", owner="octo", repo="app", directory=str(target))
    assert refused.error["code"] == "INVALID_INPUT"
    github.git_user = "someone-else"
    denied = run("gh", "repo.clone", owner="octo", repo="app", directory=str(tmp_path / "again"))
    assert denied.error["code"] == "AUTH_FAILED"
    assert github.token not in denied.stdout
    assert not (tmp_path / "again").exists()


def test_webhooks_are_registered_once_and_removed_by_instance(github: FakeGitHub) -> None:
    """webhook.register creates, then updates (no duplicate); webhook.unregister removes this instance's."""
    inst = active_github(github)
    url = f"https://hooks.example/webhooks/{inst['instanceId']}/tok"
    params = {"owner": "octo", "repo": "app", "url": url, "secret": "s3cret"}
    first = data("gh", "webhook.register", **params, events=["push"])
    again = data("gh", "webhook.register", **params, events=["push", "issues"])
    assert first["id"] == again["id"]
    assert again["events"] == ["push", "issues"]
    assert github.hooks[0]["_secret"] == "s3cret"
    other = data("gh", "webhook.register", owner="octo", repo="app", url="https://other.example/hook")
    assert other["events"][:2] == ["push", "pull_request"]
    removed = data("gh", "webhook.unregister", owner="octo", repo="app")
    assert removed == {"removed": [first["id"]]}
    assert [h["config"]["url"] for h in github.hooks] == ["https://other.example/hook"]


def test_search_costs_five_tokens_and_is_scoped(github: FakeGitHub) -> None:
    """search.* are declared with weight 5; owner/repo become GitHub qualifiers."""
    spec = GitHubConnector.spec()
    assert {c.id: c.weight for c in spec.capabilities if c.id.startswith("search.")} == {
        "search.code": 5,
        "search.issues": 5,
    }
    active_github(github)
    hits = data("gh", "search.issues", query="crash", owner="octo", repo="app")
    assert [h["title"] for h in hits] == ["Crash on start"]
    assert github.server.calls("GET", "/search/issues")[0].query["q"] == ["crash repo:octo/app"]
    code = data("gh", "search.code", query="main")
    assert code[0]["fragments"] == ["def main():"]
    assert (
        github.server.calls("GET", "/search/code")[0].headers["accept"]
        == "application/vnd.github.text-match+json"
    )


def test_install_offers_every_auth_setting() -> None:
    """PAT, OAuth app (web + device endpoints) and GitHub App settings are declared and defaulted."""
    inst = install(
        "github",
        "gh",
        "https://ghe.example/api/v3",
        "auth_type=service_account",
        "app_id=42",
        "installation_id=7",
    )
    settings = inst["settings"]
    assert settings["device_authorization_url"] == "https://github.com/login/device/code"
    assert (settings["app_id"], settings["installation_id"], inst["authType"]) == (
        "42",
        "7",
        "service_account",
    )
    assert set(GitHubConnector.auth_types) == {"bearer_token", "oauth2", "service_account"}


def test_uninstall_removes_the_instances_webhooks_at_github(github: FakeGitHub) -> None:
    """connector uninstall runs the connector's clean-up first: its hooks in webhook_repos go away."""
    inst = active_github(github)
    assert cli("connector", "update", "gh", "--set", 'webhook_repos=["octo/app"]').exit_code == 0
    url = f"https://hooks.example/webhooks/{inst['instanceId']}/tok"
    data("gh", "webhook.register", owner="octo", repo="app", url=url, secret="s3cret")
    data("gh", "webhook.register", owner="octo", repo="app", url="https://other.example/hook")
    assert len(github.hooks) == 2
    assert cli("connector", "uninstall", "gh", "--yes").exit_code == 0
    assert [h["config"]["url"] for h in github.hooks] == ["https://other.example/hook"]


def test_etags_are_shared_between_cli_processes(github: FakeGitHub, home: Path) -> None:
    """A second `exec` process revalidates with the first one's ETag and is served the stored body."""
    active_github(github)
    for _ in range(2):
        proc = subprocess.run(
            [*CLI, "--json", "exec", "gh", "repo.read", "-p", "owner=octo", "-p", "repo=app", "--no-cache"],
            env=cli_env(home),
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert json.loads(proc.stdout)["data"]["fullName"] == "octo/app"
    reads = [r for r in github.requests if r.path.endswith("/repos/octo/app") and r.method == "GET"]
    assert len(reads) == 2
    assert "if-none-match" not in reads[0].headers
    assert reads[1].headers.get("if-none-match")
