"""Stateful fake GitHub and GitLab servers speaking each provider's wire format on loopback.

They keep repositories, pull/merge requests, issues, comments, runs and hooks in memory, page lists
with ``Link`` headers (GitLab also ``x-next-page``), answer ``304`` to a matching ``If-None-Match``,
check the credential, send rate-limit headers, and can be told to fail the next requests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

from cuervo_fabric.testing import LoopbackServer, RecordedRequest, Reply

__all__ = ["FakeGitHub", "FakeGitLab"]

NOW = "2026-01-02T03:04:05Z"

Handler = Callable[..., Reply]


class _Fake:
    prefix = ""
    default_per_page = 30

    def __init__(self) -> None:
        self.server = LoopbackServer(handler=self.handle)
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        #: One-shot replies: ``(METHOD, path)`` -> replies served (in order) before the real route.
        self.faults: dict[tuple[str, str], list[Reply]] = {}
        self.not_modified = 0
        self.git_dir: Path | None = None

    # -- plumbing -------------------------------------------------------------------
    def start(self) -> _Fake:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def root(self) -> str:
        return self.server.url

    @property
    def url(self) -> str:
        return self.server.url + self.prefix

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.server.requests

    def api_requests(self) -> list[RecordedRequest]:
        return [r for r in self.server.requests if r.path.startswith(self.prefix + "/")]

    def on(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.routes.append((method, re.compile("^" + pattern + "$"), fn))
            return fn

        return register

    def fail(self, method: str, path: str, *replies: Reply) -> None:
        self.faults.setdefault((method, self.prefix + path), []).extend(replies)

    def authorized(self, req: RecordedRequest) -> bool:
        raise NotImplementedError

    def rate_headers(self) -> dict[str, str]:
        return {}

    def handle(self, req: RecordedRequest) -> Reply:
        if self.git_dir is not None and ".git/" in req.path:
            return self._git(req)
        queued = self.faults.get((req.method, req.path))
        if queued:
            return queued.pop(0)
        if not req.path.startswith(self.prefix + "/"):
            return Reply(404, {"message": "Not Found"})
        if not self.authorized(req):
            return Reply(401, {"message": "Bad credentials"})
        path = req.path[len(self.prefix) :]
        for method, pattern, fn in self.routes:
            match = pattern.match(path)
            if match and method == req.method:
                args = [unquote(a) for a in match.groups()]
                reply = fn(req, *args)
                reply.headers = {**self.rate_headers(), **reply.headers}
                return reply
        return Reply(404, {"message": "Not Found"})

    def ok(
        self, req: RecordedRequest, body: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> Reply:
        """A JSON answer with an ETag; 304 when the request's If-None-Match matches it."""
        etag = 'W/"' + hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest() + '"'
        if req.method == "GET" and req.headers.get("if-none-match") == etag:
            self.not_modified += 1
            return Reply(304, None, {"ETag": etag})
        return Reply(status, body, {"ETag": etag, **(headers or {})})

    def page(
        self, req: RecordedRequest, items: list[Any], wrap: Callable[[list[Any]], Any] | None = None
    ) -> Reply:
        per_page = int(req.query.get("per_page", [self.default_per_page])[0])
        number = int(req.query.get("page", ["1"])[0])
        chunk = items[(number - 1) * per_page : number * per_page]
        last = max(1, -(-len(items) // per_page))
        headers = self.page_headers(req, number, last, per_page, len(items))
        return self.ok(req, wrap(chunk) if wrap else chunk, headers=headers)

    def link(self, req: RecordedRequest, number: int) -> str:
        query = {k: v[0] for k, v in req.query.items()}
        query["page"] = str(number)
        return f"{self.root}{req.path}?{urlencode(query)}"

    def page_headers(
        self, req: RecordedRequest, number: int, last: int, per_page: int, total: int
    ) -> dict[str, str]:
        links = []
        if number < last:
            links.append(f'<{self.link(req, number + 1)}>; rel="next"')
            links.append(f'<{self.link(req, last)}>; rel="last"')
        return {"Link": ", ".join(links)} if links else {}

    # -- git over "dumb" HTTP, behind Basic auth ------------------------------------
    git_user = ""

    def _git(self, req: RecordedRequest) -> Reply:
        assert self.git_dir is not None
        expected = "Basic " + base64.b64encode(f"{self.git_user}:{self.token}".encode()).decode()  # type: ignore[attr-defined]
        if req.headers.get("authorization") != expected:
            return Reply(401, "auth required", {"WWW-Authenticate": 'Basic realm="git"'})
        rel = req.path.split(".git/", 1)[1]
        target = (self.git_dir / rel).resolve()
        if not str(target).startswith(str(self.git_dir.resolve())) or not target.is_file():
            return Reply(404, "not found")
        return Reply(200, target.read_bytes(), {"Content-Type": "application/octet-stream"})


# ===================================================================================== GitHub


def _gh_user(login: str) -> dict[str, Any]:
    return {"login": login, "id": abs(hash(login)) % 10_000, "type": "User"}


class FakeGitHub(_Fake):
    """GitHub REST v3 (``prefix="/api/v3"`` for GitHub Enterprise Server)."""

    def __init__(self, *, token: str = "ghp_test_token", enterprise: bool = False) -> None:
        super().__init__()
        self.prefix = "/api/v3" if enterprise else ""
        self.token = token
        self.git_user = "x-access-token"
        self.remaining = 4999
        self.repos: list[dict[str, Any]] = []
        self.pulls: list[dict[str, Any]] = []
        self.issues: list[dict[str, Any]] = []
        self.comments: list[dict[str, Any]] = []
        self.reviews: list[dict[str, Any]] = []
        self.runs: list[dict[str, Any]] = []
        self.hooks: list[dict[str, Any]] = []
        #: GHES: a dispatched run shows up in the listing after this many polls.
        self.run_visible_after = 1
        self._pending_runs: list[tuple[int, dict[str, Any]]] = []
        self._seq = 100
        self._routes()

    def authorized(self, req: RecordedRequest) -> bool:
        return req.headers.get("authorization") == f"Bearer {self.token}"

    def rate_headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-used": str(5000 - self.remaining),
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-resource": "core",
        }

    def next_id(self) -> int:
        self._seq += 1
        return self._seq

    def add_repo(self, owner: str, name: str, **extra: Any) -> dict[str, Any]:
        repo = {
            "id": self.next_id(),
            "name": name,
            "full_name": f"{owner}/{name}",
            "owner": _gh_user(owner),
            "private": extra.pop("private", False),
            "description": extra.pop("description", f"The {name} repository"),
            "html_url": f"https://github.example/{owner}/{name}",
            "clone_url": f"{self.root}/{owner}/{name}.git",
            "default_branch": "main",
            "language": "Python",
            "updated_at": NOW,
            **extra,
        }
        self.repos.append(repo)
        return repo

    def add_issue(self, owner: str, repo: str, title: str, **extra: Any) -> dict[str, Any]:
        number = len([i for i in self.issues if i["_repo"] == (owner, repo)]) + len(self.pulls) + 1
        issue = {
            "_repo": (owner, repo),
            "id": self.next_id(),
            "number": number,
            "title": title,
            "body": extra.pop("body", None),
            "state": extra.pop("state", "open"),
            "user": _gh_user("octocat"),
            "assignees": [_gh_user(a) for a in extra.pop("assignees", [])],
            "labels": [{"name": n} for n in extra.pop("labels", [])],
            "created_at": NOW,
            "updated_at": NOW,
            "html_url": f"https://github.example/{owner}/{repo}/issues/{number}",
            **extra,
        }
        self.issues.append(issue)
        return issue

    @staticmethod
    def public(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def _repo(self, owner: str, name: str) -> dict[str, Any] | None:
        return next((r for r in self.repos if r["full_name"] == f"{owner}/{name}"), None)

    def _routes(self) -> None:
        on = self.on

        @on("GET", r"/rate_limit")
        def rate_limit(req: RecordedRequest) -> Reply:
            reset = int(time.time()) + 3600
            core = {"limit": 5000, "remaining": self.remaining, "reset": reset, "used": 5000 - self.remaining}
            return Reply(200, {"resources": {"core": core}, "rate": core})

        @on("GET", r"/user/repos")
        def user_repos(req: RecordedRequest) -> Reply:
            return self.page(req, self.repos)

        @on("GET", r"/orgs/([^/]+)/repos")
        def org_repos(req: RecordedRequest, org: str) -> Reply:
            return self.page(req, [r for r in self.repos if r["owner"]["login"] == org])

        @on("GET", r"/repos/([^/]+)/([^/]+)")
        def repo(req: RecordedRequest, owner: str, name: str) -> Reply:
            found = self._repo(owner, name)
            return self.ok(req, found) if found else Reply(404, {"message": "Not Found"})

        @on("GET", r"/repos/([^/]+)/([^/]+)/pulls")
        def pulls(req: RecordedRequest, owner: str, name: str) -> Reply:
            state = req.query.get("state", ["open"])[0]
            found = [
                self.public(p)
                for p in self.pulls
                if p["_repo"] == (owner, name) and state in ("all", p["state"])
            ]
            return self.page(req, found)

        @on("POST", r"/repos/([^/]+)/([^/]+)/pulls")
        def create_pull(req: RecordedRequest, owner: str, name: str) -> Reply:
            body = req.json()
            missing = [k for k in ("title", "head", "base") if not body.get(k)]
            if missing:
                return Reply(422, {"message": "Validation Failed", "errors": [{"field": missing[0]}]})
            number = len(self.pulls) + len(self.issues) + 1
            pr = {
                "_repo": (owner, name),
                "id": self.next_id(),
                "number": number,
                "title": body["title"],
                "body": body.get("body"),
                "state": "open",
                "draft": bool(body.get("draft")),
                "user": _gh_user("octocat"),
                "head": {"ref": body["head"], "sha": "a" * 40},
                "base": {"ref": body["base"], "sha": "b" * 40},
                "created_at": NOW,
                "updated_at": NOW,
                "merged_at": None,
                "merged": False,
                "mergeable": True,
                "labels": [],
                "requested_reviewers": [],
                "html_url": f"https://github.example/{owner}/{name}/pull/{number}",
            }
            self.pulls.append(pr)
            return Reply(201, self.public(pr))

        def find_pull(owner: str, name: str, number: str) -> dict[str, Any] | None:
            return next(
                (p for p in self.pulls if p["_repo"] == (owner, name) and str(p["number"]) == number), None
            )

        @on("GET", r"/repos/([^/]+)/([^/]+)/pulls/(\d+)")
        def get_pull(req: RecordedRequest, owner: str, name: str, number: str) -> Reply:
            pr = find_pull(owner, name, number)
            return self.ok(req, self.public(pr)) if pr else Reply(404, {"message": "Not Found"})

        @on("GET", r"/repos/([^/]+)/([^/]+)/pulls/(\d+)/reviews")
        def list_reviews(req: RecordedRequest, owner: str, name: str, number: str) -> Reply:
            return self.page(req, [r for r in self.reviews if r["_pr"] == (owner, name, number)])

        @on("POST", r"/repos/([^/]+)/([^/]+)/pulls/(\d+)/reviews")
        def review(req: RecordedRequest, owner: str, name: str, number: str) -> Reply:
            body = req.json()
            states = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}
            rv = {
                "_pr": (owner, name, number),
                "id": self.next_id(),
                "user": _gh_user("reviewer"),
                "body": body.get("body", ""),
                "state": states[body["event"]],
                "submitted_at": NOW,
                "html_url": f"https://github.example/{owner}/{name}/pull/{number}#review",
            }
            self.reviews.append(rv)
            return Reply(200, self.public(rv))

        @on("PUT", r"/repos/([^/]+)/([^/]+)/pulls/(\d+)/merge")
        def merge(req: RecordedRequest, owner: str, name: str, number: str) -> Reply:
            pr = find_pull(owner, name, number)
            if pr is None:
                return Reply(404, {"message": "Not Found"})
            if pr["state"] != "open":
                return Reply(405, {"message": "Pull Request is not mergeable"})
            pr.update(state="closed", merged=True, merged_at=NOW)
            return Reply(
                200, {"sha": "c" * 40, "merged": True, "message": "Pull Request successfully merged"}
            )

        @on("POST", r"/repos/([^/]+)/([^/]+)/issues/(\d+)/comments")
        def comment(req: RecordedRequest, owner: str, name: str, number: str) -> Reply:
            c = {
                "id": self.next_id(),
                "body": req.json()["body"],
                "user": _gh_user("octocat"),
                "created_at": NOW,
                "html_url": f"https://github.example/{owner}/{name}/issues/{number}#c",
            }
            self.comments.append(c)
            return Reply(201, c)

        @on("GET", r"/repos/([^/]+)/([^/]+)/issues")
        def issues(req: RecordedRequest, owner: str, name: str) -> Reply:
            state = req.query.get("state", ["open"])[0]
            found = [
                self.public(i)
                for i in self.issues
                if i["_repo"] == (owner, name) and state in ("all", i["state"])
            ]
            # GitHub lists pull requests among issues
            found += [
                {**self.public(p), "pull_request": {"url": "x"}}
                for p in self.pulls
                if p["_repo"] == (owner, name) and state in ("all", p["state"])
            ]
            return self.page(req, found)

        @on("POST", r"/repos/([^/]+)/([^/]+)/issues")
        def create_issue(req: RecordedRequest, owner: str, name: str) -> Reply:
            body = req.json()
            issue = self.add_issue(
                owner,
                name,
                body["title"],
                body=body.get("body"),
                labels=body.get("labels", []),
                assignees=body.get("assignees", []),
            )
            return Reply(201, self.public(issue))

        @on("PATCH", r"/repos/([^/]+)/([^/]+)/issues/(\d+)")
        def update_issue(req: RecordedRequest, owner: str, name: str, number: str) -> Reply:
            issue = next(
                (i for i in self.issues if i["_repo"] == (owner, name) and str(i["number"]) == number), None
            )
            if issue is None:
                return Reply(404, {"message": "Not Found"})
            body = req.json()
            for key in ("title", "body", "state"):
                if key in body:
                    issue[key] = body[key]
            if "labels" in body:
                issue["labels"] = [{"name": n} for n in body["labels"]]
            return Reply(200, self.public(issue))

        @on("GET", r"/repos/([^/]+)/([^/]+)/actions/runs")
        def runs(req: RecordedRequest, owner: str, name: str) -> Reply:
            return self.page(
                req, self.runs, wrap=lambda chunk: {"total_count": len(self.runs), "workflow_runs": chunk}
            )

        @on("GET", r"/repos/([^/]+)/([^/]+)/actions/workflows/([^/]+)/runs")
        def workflow_runs(req: RecordedRequest, owner: str, name: str, wf: str) -> Reply:
            still: list[tuple[int, dict[str, Any]]] = []
            for polls_left, run in self._pending_runs:
                if polls_left <= 0:
                    self.runs.insert(0, run)
                else:
                    still.append((polls_left - 1, run))
            self._pending_runs = still
            event = req.query.get("event", [None])[0]
            found = [r for r in self.runs if r["path"].endswith(wf) and event in (None, r["event"])]
            return self.page(
                req, found, wrap=lambda chunk: {"total_count": len(found), "workflow_runs": chunk}
            )

        @on("POST", r"/repos/([^/]+)/([^/]+)/actions/workflows/([^/]+)/dispatches")
        def dispatch(req: RecordedRequest, owner: str, name: str, wf: str) -> Reply:
            body = req.json()
            run = self.new_run(owner, name, wf, body["ref"], event="workflow_dispatch")
            if body.get("return_run_details") and not self.prefix:
                self.runs.insert(0, run)
                return Reply(
                    200,
                    {
                        "workflow_run_id": run["id"],
                        "run_url": f"{self.url}/repos/{owner}/{name}/actions/runs/{run['id']}",
                        "html_url": run["html_url"],
                    },
                )
            self._pending_runs.append((self.run_visible_after, run))
            return Reply(204)

        @on("GET", r"/repos/([^/]+)/([^/]+)/actions/runs/(\d+)")
        def get_run(req: RecordedRequest, owner: str, name: str, run_id: str) -> Reply:
            run = next((r for r in self.runs if str(r["id"]) == run_id), None)
            return self.ok(req, run) if run else Reply(404, {"message": "Not Found"})

        @on("GET", r"/repos/([^/]+)/([^/]+)/actions/runs/(\d+)/jobs")
        def jobs(req: RecordedRequest, owner: str, name: str, run_id: str) -> Reply:
            job = {"id": 1, "name": "build", "status": "in_progress", "conclusion": None, "started_at": NOW}
            return self.page(req, [job], wrap=lambda chunk: {"total_count": 1, "jobs": chunk})

        @on("GET", r"/search/issues")
        def search_issues(req: RecordedRequest) -> Reply:
            q = req.query["q"][0]
            term = q.split(" ")[0].lower()
            found = [self.public(i) for i in self.issues if term in i["title"].lower()]
            return self.page(
                req,
                found,
                wrap=lambda c: {"total_count": len(found), "incomplete_results": False, "items": c},
            )

        @on("GET", r"/search/code")
        def search_code(req: RecordedRequest) -> Reply:
            hit = {
                "name": "app.py",
                "path": "src/app.py",
                "sha": "d" * 40,
                "html_url": "https://github.example/octo/app/blob/main/src/app.py",
                "repository": {"full_name": "octo/app"},
                "text_matches": [{"fragment": "def main():"}],
            }
            return self.page(
                req, [hit], wrap=lambda c: {"total_count": 1, "incomplete_results": False, "items": c}
            )

        @on("GET", r"/repos/([^/]+)/([^/]+)/hooks")
        def hooks(req: RecordedRequest, owner: str, name: str) -> Reply:
            return self.page(req, [self.public(h) for h in self.hooks if h["_repo"] == (owner, name)])

        @on("POST", r"/repos/([^/]+)/([^/]+)/hooks")
        def create_hook(req: RecordedRequest, owner: str, name: str) -> Reply:
            body = req.json()
            hook = {
                "_repo": (owner, name),
                "id": self.next_id(),
                "name": "web",
                "active": body.get("active", True),
                "events": body.get("events", ["push"]),
                "config": {k: v for k, v in body["config"].items() if k != "secret"},
                "_secret": body["config"].get("secret"),
                "created_at": NOW,
            }
            self.hooks.append(hook)
            return Reply(201, self.public(hook))

        @on("PATCH", r"/repos/([^/]+)/([^/]+)/hooks/(\d+)")
        def update_hook(req: RecordedRequest, owner: str, name: str, hook_id: str) -> Reply:
            hook = next(h for h in self.hooks if str(h["id"]) == hook_id)
            body = req.json()
            hook["events"] = body.get("events", hook["events"])
            hook["_secret"] = body.get("config", {}).get("secret", hook["_secret"])
            return Reply(200, self.public(hook))

        @on("DELETE", r"/repos/([^/]+)/([^/]+)/hooks/(\d+)")
        def delete_hook(req: RecordedRequest, owner: str, name: str, hook_id: str) -> Reply:
            self.hooks = [h for h in self.hooks if str(h["id"]) != hook_id]
            return Reply(204)

    def new_run(self, owner: str, name: str, wf: str, ref: str, *, event: str = "push") -> dict[str, Any]:
        run_id = self.next_id() * 1000
        return {
            "id": run_id,
            "name": "CI",
            "path": f".github/workflows/{wf}",
            "workflow_id": 42,
            "status": "queued",
            "conclusion": None,
            "head_branch": ref,
            "head_sha": "e" * 40,
            "event": event,
            "created_at": NOW,
            "updated_at": NOW,
            "html_url": f"https://github.example/{owner}/{name}/actions/runs/{run_id}",
        }


# ===================================================================================== GitLab


def _gl_user(username: str) -> dict[str, Any]:
    return {"id": abs(hash(username)) % 10_000, "username": username, "name": username.title()}


class FakeGitLab(_Fake):
    """GitLab REST v4 under ``/api/v4``; ``link_header=False`` pages with ``x-next-page`` only."""

    prefix = "/api/v4"
    default_per_page = 20

    def __init__(self, *, token: str = "glpat-test-token", link_header: bool = True) -> None:
        super().__init__()
        self.token = token
        self.git_user = "oauth2"
        self.link_header = link_header
        self.projects: list[dict[str, Any]] = []
        self.mrs: list[dict[str, Any]] = []
        self.issues: list[dict[str, Any]] = []
        self.notes: list[dict[str, Any]] = []
        self.pipelines: list[dict[str, Any]] = []
        self.hooks: list[dict[str, Any]] = []
        self.users = {"octocat": _gl_user("octocat"), "alice": _gl_user("alice")}
        self._seq = 500
        self._routes()

    def authorized(self, req: RecordedRequest) -> bool:
        return req.headers.get("private-token") == self.token or req.headers.get("authorization") == (
            f"Bearer {self.token}"
        )

    def rate_headers(self) -> dict[str, str]:
        reset = str(int(time.time()) + 60)
        return {"RateLimit-Limit": "2000", "RateLimit-Remaining": "1999", "RateLimit-Reset": reset}

    def page_headers(
        self, req: RecordedRequest, number: int, last: int, per_page: int, total: int
    ) -> dict[str, str]:
        headers = {
            "x-page": str(number),
            "x-per-page": str(per_page),
            "x-total": str(total),
            "x-total-pages": str(last),
            "x-next-page": str(number + 1) if number < last else "",
            "x-prev-page": str(number - 1) if number > 1 else "",
        }
        if self.link_header:
            headers.update(super().page_headers(req, number, last, per_page, total))
        return headers

    def next_id(self) -> int:
        self._seq += 1
        return self._seq

    def add_project(self, namespace: str, path: str, **extra: Any) -> dict[str, Any]:
        full = f"{namespace}/{path}"
        project = {
            "id": self.next_id(),
            "name": path.title(),
            "path": path,
            "path_with_namespace": full,
            "description": extra.pop("description", f"The {path} project"),
            "default_branch": "main",
            "visibility": extra.pop("visibility", "private"),
            "web_url": f"https://gitlab.example/{full}",
            "http_url_to_repo": f"{self.root}/{full}.git",
            "last_activity_at": NOW,
            "updated_at": NOW,
            "namespace": {"full_path": namespace},
            **extra,
        }
        self.projects.append(project)
        return project

    def add_issue(self, full: str, title: str, **extra: Any) -> dict[str, Any]:
        iid = len([i for i in self.issues if i["_project"] == full]) + 1
        issue = {
            "_project": full,
            "id": self.next_id(),
            "iid": iid,
            "title": title,
            "description": extra.pop("description", None),
            "state": extra.pop("state", "opened"),
            "author": self.users["octocat"],
            "assignees": [],
            "labels": extra.pop("labels", []),
            "created_at": NOW,
            "updated_at": NOW,
            "web_url": f"https://gitlab.example/{full}/-/issues/{iid}",
        }
        self.issues.append(issue)
        return issue

    def project(self, ident: str) -> dict[str, Any] | None:
        return next(
            (p for p in self.projects if p["path_with_namespace"] == ident or str(p["id"]) == ident), None
        )

    @staticmethod
    def public(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def _routes(self) -> None:
        on = self.on
        P = r"/projects/([^/]+)"

        @on("GET", r"/user")
        def user(req: RecordedRequest) -> Reply:
            return Reply(200, self.users["octocat"])

        @on("GET", r"/users")
        def users(req: RecordedRequest) -> Reply:
            name = req.query.get("username", [""])[0]
            return Reply(200, [self.users[name]] if name in self.users else [])

        @on("GET", r"/projects")
        def projects(req: RecordedRequest) -> Reply:
            term = req.query.get("search", [""])[0]
            return self.page(req, [p for p in self.projects if term in p["path_with_namespace"]])

        @on("GET", r"/groups/([^/]+)/projects")
        def group_projects(req: RecordedRequest, group: str) -> Reply:
            return self.page(req, [p for p in self.projects if p["namespace"]["full_path"].startswith(group)])

        @on("GET", P)
        def project(req: RecordedRequest, ident: str) -> Reply:
            found = self.project(ident)
            return self.ok(req, found) if found else Reply(404, {"message": "404 Project Not Found"})

        def mr_of(ident: str, iid: str) -> dict[str, Any] | None:
            return next((x for x in self.mrs if x["_project"] == ident and str(x["iid"]) == iid), None)

        @on("GET", P + r"/merge_requests")
        def list_mrs(req: RecordedRequest, ident: str) -> Reply:
            state = req.query.get("state", ["all"])[0]
            found = [
                self.public(x) for x in self.mrs if x["_project"] == ident and state in ("all", x["state"])
            ]
            return self.page(req, found)

        @on("POST", P + r"/merge_requests")
        def create_mr(req: RecordedRequest, ident: str) -> Reply:
            body = req.json()
            if self.project(ident) is None:
                return Reply(404, {"message": "404 Project Not Found"})
            iid = len([x for x in self.mrs if x["_project"] == ident]) + 1
            mr = {
                "_project": ident,
                "id": self.next_id(),
                "iid": iid,
                "title": body["title"],
                "description": body.get("description"),
                "state": "opened",
                "author": self.users["octocat"],
                "source_branch": body["source_branch"],
                "target_branch": body["target_branch"],
                "created_at": NOW,
                "updated_at": NOW,
                "merged_at": None,
                "labels": [],
                "draft": body["title"].startswith("Draft:"),
                "sha": "a" * 40,
                "diff_refs": {"base_sha": "b" * 40, "head_sha": "a" * 40, "start_sha": "b" * 40},
                "detailed_merge_status": "mergeable",
                "reviewers": [],
                "web_url": f"https://gitlab.example/{ident}/-/merge_requests/{iid}",
            }
            self.mrs.append(mr)
            return Reply(201, self.public(mr))

        @on("GET", P + r"/merge_requests/(\d+)")
        def get_mr(req: RecordedRequest, ident: str, iid: str) -> Reply:
            mr = mr_of(ident, iid)
            return self.ok(req, self.public(mr)) if mr else Reply(404, {"message": "404 Not found"})

        @on("GET", P + r"/merge_requests/(\d+)/approvals")
        def approvals(req: RecordedRequest, ident: str, iid: str) -> Reply:
            mr = mr_of(ident, iid) or {}
            by = [{"user": self.users["alice"]}] if mr.get("_approved") else []
            return Reply(200, {"approved": bool(by), "approved_by": by})

        @on("POST", P + r"/merge_requests/(\d+)/approve")
        def approve(req: RecordedRequest, ident: str, iid: str) -> Reply:
            mr = mr_of(ident, iid)
            if mr is None:
                return Reply(404, {"message": "404 Not found"})
            mr["_approved"] = True
            return Reply(201, {"approved": True, "approved_by": [{"user": self.users["alice"]}]})

        @on("POST", P + r"/merge_requests/(\d+)/notes")
        def note(req: RecordedRequest, ident: str, iid: str) -> Reply:
            n = {
                "id": self.next_id(),
                "body": req.json()["body"],
                "author": self.users["octocat"],
                "created_at": NOW,
                "noteable_type": "MergeRequest",
            }
            self.notes.append(n)
            return Reply(201, n)

        @on("PUT", P + r"/merge_requests/(\d+)/merge")
        def merge(req: RecordedRequest, ident: str, iid: str) -> Reply:
            mr = mr_of(ident, iid)
            if mr is None:
                return Reply(404, {"message": "404 Not found"})
            if mr["state"] != "opened":
                return Reply(405, {"message": "405 Method Not Allowed"})
            mr.update(state="merged", merged_at=NOW, merge_commit_sha="c" * 40)
            return Reply(200, self.public(mr))

        @on("GET", P + r"/issues")
        def issues(req: RecordedRequest, ident: str) -> Reply:
            state = req.query.get("state", ["all"])[0]
            found = [
                self.public(i) for i in self.issues if i["_project"] == ident and state in ("all", i["state"])
            ]
            return self.page(req, found)

        @on("POST", P + r"/issues")
        def create_issue(req: RecordedRequest, ident: str) -> Reply:
            body = req.json()
            issue = self.add_issue(ident, body["title"], description=body.get("description"))
            issue["labels"] = [x for x in body.get("labels", "").split(",") if x]
            issue["assignees"] = [u for u in self.users.values() if u["id"] in body.get("assignee_ids", [])]
            return Reply(201, self.public(issue))

        @on("PUT", P + r"/issues/(\d+)")
        def update_issue(req: RecordedRequest, ident: str, iid: str) -> Reply:
            issue = next((i for i in self.issues if i["_project"] == ident and str(i["iid"]) == iid), None)
            if issue is None:
                return Reply(404, {"message": "404 Not found"})
            body = req.json()
            if body.get("state_event") == "close":
                issue["state"] = "closed"
            if body.get("state_event") == "reopen":
                issue["state"] = "opened"
            for key in ("title", "description"):
                if key in body:
                    issue[key] = body[key]
            return Reply(200, self.public(issue))

        @on("GET", P + r"/pipelines")
        def pipelines(req: RecordedRequest, ident: str) -> Reply:
            return self.page(req, [self.public(p) for p in self.pipelines if p["_project"] == ident])

        @on("POST", P + r"/pipeline")
        def create_pipeline(req: RecordedRequest, ident: str) -> Reply:
            body = req.json()
            pipe = {
                "_project": ident,
                "id": self.next_id(),
                "iid": len(self.pipelines) + 1,
                "ref": body["ref"],
                "sha": "e" * 40,
                "status": "created",
                "source": "api",
                "created_at": NOW,
                "updated_at": NOW,
                "web_url": f"https://gitlab.example/{ident}/-/pipelines/1",
                "_variables": body.get("variables", []),
            }
            self.pipelines.append(pipe)
            return Reply(201, self.public(pipe))

        @on("GET", P + r"/pipelines/(\d+)")
        def pipeline(req: RecordedRequest, ident: str, pid: str) -> Reply:
            found = next((p for p in self.pipelines if str(p["id"]) == pid), None)
            return self.ok(req, self.public(found)) if found else Reply(404, {"message": "404 Not found"})

        @on("GET", P + r"/pipelines/(\d+)/jobs")
        def jobs(req: RecordedRequest, ident: str, pid: str) -> Reply:
            job = {"id": 9, "name": "test", "status": "running", "started_at": NOW, "finished_at": None}
            return self.page(req, [job])

        @on("GET", P + r"/search")
        def project_search(req: RecordedRequest, ident: str) -> Reply:
            scope, term = req.query["scope"][0], req.query["search"][0].lower()
            if scope == "issues":
                return self.page(req, [self.public(i) for i in self.issues if term in i["title"].lower()])
            blob = {
                "basename": "app",
                "data": "def main():",
                "path": "src/app.py",
                "filename": "src/app.py",
                "id": None,
                "ref": "main",
                "startline": 1,
                "project_id": 1,
            }
            return self.page(req, [blob])

        @on("GET", r"/search")
        def search(req: RecordedRequest) -> Reply:
            term = req.query["search"][0].lower()
            return self.page(req, [self.public(i) for i in self.issues if term in i["title"].lower()])

        @on("GET", P + r"/hooks")
        def hooks(req: RecordedRequest, ident: str) -> Reply:
            return self.page(req, [self.public(h) for h in self.hooks if h["_project"] == ident])

        @on("POST", P + r"/hooks")
        def create_hook(req: RecordedRequest, ident: str) -> Reply:
            body = req.json()
            hook = {
                "_project": ident,
                "id": self.next_id(),
                "created_at": NOW,
                "alert_status": "executable",
                **{k: v for k, v in body.items() if k != "token"},
                "_token": body.get("token"),
            }
            self.hooks.append(hook)
            return Reply(201, self.public(hook))

        @on("DELETE", P + r"/hooks/(\d+)")
        def delete_hook(req: RecordedRequest, ident: str, hook_id: str) -> Reply:
            self.hooks = [h for h in self.hooks if str(h["id"]) != hook_id]
            return Reply(204)
