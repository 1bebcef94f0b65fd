"""Every GitHub action's requests validate against GitHub's own OpenAPI description, and the
description's own response examples parse into the connector-agnostic domain types.

A loopback server answers each request with the success example of the operation the request
matches (``$ref``s resolved), so the connector meets GitHub's documented shapes end to end, through
the real CLI and gateway.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cuervo_fabric import sdk
from cuervo_fabric.testing import LoopbackServer, RecordedRequest, Reply
from tests.connectors.conftest import install, login, run
from tests.connectors.typecheck import conforms

SPEC_HOST = "https://api.github.com"


@dataclass
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    op: dict[str, Any]


class SpecServer:
    """GitHub as its description documents it: every operation answers its success example."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        ops: list[Operation] = []
        for template, item in spec["paths"].items():
            regex = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
            for method, op in item.items():
                if method in ("get", "post", "put", "patch", "delete"):
                    ops.append(Operation(method.upper(), template, re.compile(regex), op))
        # literal segments win over parameters: /user/repos before /users/{username}
        ops.sort(key=lambda o: o.template.count("{"))
        self.ops = ops
        self.seen: list[tuple[RecordedRequest, Operation]] = []
        self.server = LoopbackServer(handler=self.handle)

    def resolve(self, node: Any, depth: int = 0) -> Any:
        if depth > 40:
            return node
        if isinstance(node, dict):
            if "$ref" in node and len(node) == 1:
                target: Any = self.spec
                for part in node["$ref"].lstrip("#/").split("/"):
                    target = target[part]
                return self.resolve(target, depth + 1)
            return {k: self.resolve(v, depth + 1) for k, v in node.items()}
        if isinstance(node, list):
            return [self.resolve(v, depth + 1) for v in node]
        return node

    def find(self, method: str, path: str) -> Operation | None:
        return next((o for o in self.ops if o.method == method and o.pattern.match(path)), None)

    def handle(self, req: RecordedRequest) -> Reply:
        op = self.find(req.method, req.path)
        if op is None:
            return Reply(404, {"message": f"no operation for {req.method} {req.path}"})
        self.seen.append((req, op))
        status = min(k for k in op.op["responses"] if k.startswith("2"))
        response = self.resolve(op.op["responses"][status])
        content = (response.get("content") or {}).get("application/json")
        if content is None:
            return Reply(int(status))
        examples = content.get("examples") or {}
        example = next(iter(examples.values()))["value"] if examples else content.get("example")
        return Reply(int(status), self.resolve(example))


@pytest.fixture(scope="module")
def openapi(github_openapi: dict[str, Any]) -> Any:
    from openapi_core import Config, OpenAPI

    # The description is GitHub's published one; checking the document itself is not our test.
    return OpenAPI.from_dict(github_openapi, config=Config(spec_validator_cls=None))


@pytest.fixture
def spec_server(github_openapi: dict[str, Any]) -> Iterator[SpecServer]:
    server = SpecServer(github_openapi)
    server.server.start()
    yield server
    server.server.stop()


class _Request:
    """``openapi_core.protocols.Request`` for a request the loopback server recorded."""

    def __init__(self, req: RecordedRequest) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        self.method = req.method.lower()
        self.host_url = SPEC_HOST
        self.path = req.path
        self.full_url_pattern = SPEC_HOST + req.path
        pairs = [(k, v) for k, values in req.query.items() for v in values]
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(pairs),
            header=Headers(list(req.headers.items())),
            cookie=ImmutableMultiDict(),
            path={},
        )
        self.body = req.body or None
        self.content_type = req.headers.get("content-type", "application/json").split(";")[0]


def _declared_query(server: SpecServer, op: Operation) -> set[str]:
    params = [server.resolve(p) for p in op.op.get("parameters", [])]
    return {p["name"] for p in params if p["in"] == "query"}


#: (action, params, domain type of data): each branch of each action that sends requests.
CASES: list[tuple[str, dict[str, Any], Any]] = [
    ("repo.list", {"per_page": 50, "search": "hello"}, list[sdk.Repository]),
    ("repo.list", {"org": "octo-org"}, list[sdk.Repository]),
    ("repo.read", {}, sdk.Repository),
    ("repo.file", {"path": "README.md", "ref": "main"}, sdk.FileContent),
    ("repo.tree", {}, list[sdk.TreeNode]),
    ("pr.list", {"state": "all", "head": "feature", "base": "main", "raw": True}, list[sdk.PullRequest]),
    ("pr.list", {"state": "merged"}, list[sdk.PullRequest]),
    ("pr.read", {"number": 1347}, sdk.PullRequestDetail),
    (
        "pr.create",
        {
            "title": "Amazing",
            "head": "octocat:feature",
            "base": "main",
            "body": "Please",
            "draft": True,
            "maintainer_can_modify": True,
        },
        sdk.PullRequest,
    ),
    ("pr.review", {"number": 12, "event": "REQUEST_CHANGES", "body": "Needs a test"}, sdk.Review),
    ("pr.comment", {"number": 1347, "body": "Nice"}, sdk.Comment),
    ("pr.comment", {"number": 1347, "body": "Typo", "path": "file1.txt", "line": 2}, sdk.Comment),
    (
        "pr.merge",
        {
            "number": 1347,
            "method": "squash",
            "commit_title": "Feature",
            "commit_message": "x",
            "sha": "6dcb09b5",
        },
        sdk.MergeResult,
    ),
    ("issue.list", {"state": "all", "labels": ["bug", "ui"], "assignee": "octocat"}, list[sdk.Issue]),
    (
        "issue.create",
        {"title": "Found a bug", "body": "It breaks", "labels": ["bug"], "assignees": ["octocat"]},
        sdk.Issue,
    ),
    ("issue.update", {"number": 1347, "state": "closed", "title": "Fixed"}, sdk.Issue),
    ("actions.list", {}, list[sdk.WorkflowRun]),
    (
        "actions.list",
        {"workflow": "ci.yml", "branch": "main", "status": "completed", "event": "push"},
        list[sdk.WorkflowRun],
    ),
    ("actions.trigger", {"workflow": "ci.yml", "ref": "main", "inputs": {"level": "debug"}}, sdk.WorkflowRun),
    ("actions.status", {"run_id": 30433642}, sdk.WorkflowRunDetail),
    ("search.code", {"query": "addClass", "owner": "jquery", "repo": "jquery"}, list[sdk.CodeSearchResult]),
    ("search.issues", {"query": "windows label:bug", "owner": "octocat"}, list[sdk.Issue]),
    (
        "webhook.register",
        {"url": "https://hooks.example/webhooks/x/y", "events": ["push"], "secret": "s3cret"},
        sdk.Webhook,
    ),
    (
        "webhook.register",
        {"url": "https://example.com/webhook", "events": ["push", "pull_request"]},
        sdk.Webhook,
    ),
    ("webhook.unregister", {"url": "https://example.com/webhook"}, dict[str, list[str]]),
]

_REPO_SCOPED = {"search.code", "search.issues", "repo.list"}


def test_every_action_request_validates_against_github_openapi(
    spec_server: SpecServer, openapi: Any, github_openapi: dict[str, Any]
) -> None:
    """Each action's requests match an operation of the description: path, query, headers, body."""
    from openapi_core.validation.request.exceptions import RequestValidationError

    install("github", "gh", spec_server.server.url)
    login("gh", "--with-token", "ghp_spec_token")
    problems: list[str] = []
    covered: set[str] = set()
    for action_id, params, domain in CASES:
        if action_id not in _REPO_SCOPED:
            params = {"owner": "octocat", "repo": "Hello-World", **params}
        before = len(spec_server.seen)
        res = run("gh", action_id, **params)
        body = res.json()
        if not body["success"]:
            problems.append(f"{action_id}: {body['error']}")
            continue
        covered.add(action_id)
        # the description's own examples parse into the domain types
        problems += [f"{action_id}: {p}" for p in conforms(body["data"], domain)]
        sent = spec_server.seen[before:]
        assert sent, f"{action_id} sent no request"
        for req, op in sent:
            where = f"{action_id}: {req.method} {req.path} ({op.op['operationId']})"
            try:
                openapi.validate_request(_Request(req))
            except RequestValidationError as exc:
                problems.append(f"{where}: {exc} {getattr(exc, '__cause__', '')}")
            unknown = set(req.query) - _declared_query(spec_server, op)
            if unknown:
                problems.append(f"{where}: undeclared query parameters {sorted(unknown)}")
            if req.headers.get("x-github-api-version") != "2022-11-28":
                problems.append(f"{where}: no X-GitHub-Api-Version")
            if not req.headers.get("accept", "").startswith("application/vnd.github"):
                problems.append(f"{where}: Accept is {req.headers.get('accept')!r}")
    assert not problems, "\n".join(problems)
    declared = set(sdk.SCM_ACTIONS) - {"repo.clone", "webhook.receive"}
    assert declared <= covered, f"actions never exercised: {sorted(declared - covered)}"


def test_raw_keeps_the_provider_object(spec_server: SpecServer) -> None:
    """raw=true adds GitHub's own object under `raw`; the domain fields stay the same."""
    install("github", "gh", spec_server.server.url)
    login("gh", "--with-token", "ghp_spec_token")
    plain = run("gh", "repo.read", owner="octocat", repo="Hello-World").json()["data"]
    raw = run("gh", "repo.read", owner="octocat", repo="Hello-World", raw=True).json()["data"]
    assert "raw" not in plain
    assert raw.pop("raw")["full_name"] == "octocat/Hello-World" == plain["fullName"]
    assert raw == plain
    assert json.dumps(plain)


def test_the_checks_reject_what_github_would_refuse(openapi: Any) -> None:
    """Control: a pull request without `base`, or a repository with a numeric id, fails the checks."""
    from openapi_core.validation.request.exceptions import RequestValidationError

    bad = RecordedRequest(
        "POST",
        "/repos/o/r/pulls",
        {},
        {"content-type": "application/json"},
        json.dumps({"title": "t", "head": "h"}).encode(),
    )
    with pytest.raises(RequestValidationError):
        openapi.validate_request(_Request(bad))
    assert conforms({"id": 1, "name": "x"}, sdk.Repository)
    assert conforms([{"state": "reopened"}], list[sdk.Issue])
