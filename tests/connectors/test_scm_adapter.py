"""One domain-level scenario, written against SourceControlAdapter, runs unchanged on GitHub and GitLab."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cuervo_fabric_github.connector import GitHubConnector
from cuervo_fabric_gitlab.connector import GitLabConnector

from cuervo_fabric import sdk
from cuervo_fabric.errors import error_for_code
from cuervo_fabric.sdk import SCM_ACTIONS, SourceControlActions, SourceControlAdapter
from tests.connectors.conftest import active_github, active_gitlab
from tests.connectors.fakes import FakeGitHub, FakeGitLab
from tests.connectors.typecheck import conforms
from tests.helpers import cli


def ship_a_fix(scm: SourceControlAdapter) -> dict[str, Any]:
    """Domain logic that knows nothing of the provider: open a change, discuss it, merge it, triage."""
    repos = scm.list_repositories({"perPage": 50, "all": True})
    repo = next(r for r in repos if r["fullName"].endswith("/app"))
    owner, name = repo["fullName"].rsplit("/", 1)
    pr = scm.create_pull_request(
        owner,
        name,
        {"title": "Fix the crash", "head": "fix-crash", "base": repo["defaultBranch"], "body": "Closes it"},
    )
    assert (pr["state"], pr["sourceBranch"], pr["targetBranch"]) == ("open", "fix-crash", "main")
    comment = scm.add_review_comment(owner, name, pr["number"], {"body": "Tested locally"})
    assert comment["body"] == "Tested locally"
    assert [p["number"] for p in scm.list_pull_requests(owner, name, {"state": "open"})] == [pr["number"]]
    merged = scm.merge_pull_request(owner, name, pr["number"], {"method": "merge"})
    assert merged["merged"] is True
    detail = scm.get_pull_request(owner, name, pr["number"])
    assert detail["state"] == "merged"
    assert detail["mergedAt"]
    open_issues = scm.list_issues(owner, name, {"state": "open"})
    return {"repo": repo, "pr": pr, "detail": detail, "issues": open_issues}


def cli_runner(instance: str) -> Any:
    """Runs each adapter call as `cuervo-fabric --json exec INSTANCE ACTION --params JSON`."""

    def run(action: str, params: dict[str, Any]) -> Any:
        res = cli("--json", "exec", instance, action, "--params", json.dumps(params))
        body = res.json()
        if not body["success"]:
            err = body["error"]
            raise error_for_code(err["code"], err["message"])
        return body["data"]

    return run


@pytest.mark.parametrize("provider", ["github", "gitlab"])
def test_the_same_scenario_runs_on_both_connectors(
    provider: str, github: FakeGitHub, gitlab: FakeGitLab
) -> None:
    """list repos, open a PR/MR, comment, merge, list issues: the same code, the same results."""
    if provider == "github":
        active_github(github, "scm")
    else:
        active_gitlab(gitlab, "scm")
    out = ship_a_fix(SourceControlActions(cli_runner("scm")))
    assert out["repo"]["defaultBranch"] == "main"
    assert [i["title"] for i in out["issues"]] == ["Crash on start"]
    assert out["issues"][0]["labels"] == ["bug"]
    assert out["detail"]["sourceBranch"] == "fix-crash"
    assert not conforms(out["repo"], sdk.Repository)
    assert not conforms(out["pr"], sdk.PullRequest)
    assert not conforms(out["detail"], sdk.PullRequestDetail)
    assert not conforms(out["issues"], list[sdk.Issue])
    if provider == "github":
        assert github.pulls[0]["merged"] is True
        assert github.comments[0]["body"] == "Tested locally"
    else:
        assert gitlab.mrs[0]["state"] == "merged"
        assert gitlab.notes[0]["body"] == "Tested locally"


def test_both_connectors_declare_the_standard_actions_and_the_protocol() -> None:
    """Both offer every standard SCM action with the shared parameter schema, and the adapter methods."""
    for cls in (GitHubConnector, GitLabConnector):
        declared = cls.declarations()
        assert set(SCM_ACTIONS) <= set(declared), cls.__name__
        for action_id, (_, schema) in SCM_ACTIONS.items():
            mine = declared[action_id].params_schema() or {}
            assert set(schema["properties"]) <= set(mine["properties"]), (cls.__name__, action_id)
            assert mine["required"] == schema["required"], (cls.__name__, action_id)
        for method in ("list_repositories", "create_pull_request", "merge_pull_request", "search_issues"):
            assert callable(getattr(cls, method))
        assert issubclass(cls, SourceControlAdapter)
