"""The ``github`` connector: repositories, pull requests, issues, Actions and search.

Written on the public SDK surface only, as a third-party connector would be.
"""

from __future__ import annotations

from typing import Any

from cuervo_fabric.sdk import (
    BaseConnector,
    ConnectorCategory,
    ConnectorMetadata,
    Permission,
    RateLimits,
    action,
)

__all__ = ["GitHubConnector"]

API_VERSION = "2022-11-28"


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


_S = {"type": "string"}
_I = {"type": "integer", "minimum": 1}
_OWNER_REPO = {"owner": _S, "repo": _S}
_PAGE = {
    "page": {"type": "integer", "minimum": 1, "default": 1},
    "per_page": {"type": "integer", "minimum": 1, "maximum": 100},
}


def _repository(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(r.get("id")),
        "name": r.get("name"),
        "fullName": r.get("full_name"),
        "description": r.get("description"),
        "url": r.get("html_url"),
        "cloneUrl": r.get("clone_url"),
        "defaultBranch": r.get("default_branch"),
        "isPrivate": bool(r.get("private")),
        "language": r.get("language"),
        "updatedAt": r.get("updated_at"),
    }


def _labels(obj: dict[str, Any]) -> list[str]:
    return [lab.get("name", "") if isinstance(lab, dict) else str(lab) for lab in obj.get("labels") or []]


def _pull(p: dict[str, Any]) -> dict[str, Any]:
    merged = p.get("merged_at") is not None or p.get("merged") is True
    return {
        "id": str(p.get("id")),
        "number": p.get("number"),
        "title": p.get("title"),
        "body": p.get("body") or "",
        "state": "merged" if merged else p.get("state"),
        "author": (p.get("user") or {}).get("login"),
        "sourceBranch": (p.get("head") or {}).get("ref"),
        "targetBranch": (p.get("base") or {}).get("ref"),
        "createdAt": p.get("created_at"),
        "updatedAt": p.get("updated_at"),
        "mergedAt": p.get("merged_at"),
        "reviewStatus": "pending",
        "labels": _labels(p),
        "url": p.get("html_url"),
    }


def _issue(i: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(i.get("id")),
        "number": i.get("number"),
        "title": i.get("title"),
        "body": i.get("body") or "",
        "state": i.get("state"),
        "author": (i.get("user") or {}).get("login"),
        "assignees": [a.get("login") for a in i.get("assignees") or []],
        "labels": _labels(i),
        "createdAt": i.get("created_at"),
        "updatedAt": i.get("updated_at"),
        "url": i.get("html_url"),
    }


def _run(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": r.get("id"),
        "name": r.get("name"),
        "workflowId": r.get("workflow_id"),
        "status": r.get("status"),
        "conclusion": r.get("conclusion"),
        "branch": r.get("head_branch"),
        "commit": r.get("head_sha"),
        "event": r.get("event"),
        "createdAt": r.get("created_at"),
        "updatedAt": r.get("updated_at"),
        "url": r.get("html_url"),
    }


class GitHubConnector(BaseConnector):
    """GitHub REST API v3 through the gateway."""

    id = "github"
    version = "2.3.0"
    versions = ("2.2.0",)
    metadata = ConnectorMetadata(
        name="GitHub",
        description="Repositories, pull requests, issues, Actions and search on GitHub",
        category=ConnectorCategory.SOURCE_CONTROL,
        vendor="GitHub, Inc.",
        documentation_url="https://docs.github.com/rest",
        support_url="https://support.github.com",
        privacy_policy_url="https://docs.github.com/site-policy/privacy-policies",
        tags=("scm", "git", "ci"),
        target_api_version=API_VERSION,
    )
    required_permissions = (
        Permission(
            "code.read",
            "Read repository contents and metadata",
            True,
            "Listing and reading repositories",
        ),
        Permission(
            "code.write",
            "Open and merge pull requests",
            False,
            "pr.create, pr.merge and pr.review change repositories",
        ),
        Permission("issues.write", "Create and update issues", False, "issue.create, issue.update"),
        Permission("ci.trigger", "Dispatch workflow runs", False, "actions.trigger"),
    )
    auth_types = ("bearer_token", "oauth2", "service_account")
    auth_type_setting = "auth_type"
    default_rate_limits = RateLimits(requests_per_hour=5000)
    receives_webhooks = True
    health_path = "/rate_limit"
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "base_url": {
                "type": "string",
                "pattern": "^https?://",
                "default": "https://api.github.com",
                "description": "API root (GitHub Enterprise: https://HOST/api/v3)",
            },
            "auth_type": {
                "type": "string",
                "enum": list(auth_types),
                "default": "bearer_token",
                "description": "bearer_token (PAT), oauth2 (OAuth app) or service_account (GitHub App)",
            },
            "org": {"type": "string", "description": "Default organisation for repo.list"},
            "per_page": {
                "type": "integer",
                "minimum": 1,
                "maximum": 100,
                "default": 30,
                "description": "Default page size of list and search actions",
            },
            "authorize_url": {
                "type": "string",
                "default": "https://github.com/login/oauth/authorize",
            },
            "token_url": {
                "type": "string",
                "default": "https://github.com/login/oauth/access_token",
            },
            "device_authorization_url": {
                "type": "string",
                "default": "https://github.com/login/device/code",
            },
            "revocation_url": {"type": "string"},
            "client_id": {"type": "string"},
            "scopes": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["repo", "workflow"],
            },
            "app_id": {"type": "string", "description": "GitHub App id (service_account)"},
            "installation_id": {"type": "string", "description": "GitHub App installation id"},
            "webhook_secret_ref": {"type": "string"},
        },
    }

    def _per_page(self, params: dict[str, Any]) -> int:
        return int(params.get("per_page") or self.settings.get("per_page") or 30)

    def _headers(self) -> dict[str, str]:
        return {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.http.get(path, params=params, headers=self._headers()).json()

    def _send(self, method: str, path: str, body: dict[str, Any]) -> Any:
        resp = self.http.request(method, path, json=body, headers=self._headers())
        return resp.json() if resp.content else None

    def on_health_check(self) -> dict[str, Any]:
        data = self._get("/rate_limit")
        core = (data.get("resources") or {}).get("core") or data.get("rate") or {}
        if core.get("remaining") == 0:
            return {"status": "degraded"}
        return {"status": "healthy"}

    # ---------------------------------------------------------------- repositories
    @action("repo.list", cache_ttl=300, scopes=("repo",), params=_obj([], org=_S, search=_S, **_PAGE))
    def repo_list(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """List repositories of the user (or of ``org``)."""
        org = params.get("org") or self.settings.get("org")
        path = f"/orgs/{org}/repos" if org else "/user/repos"
        page = {"page": params["page"], "per_page": self._per_page(params)}
        repos = [_repository(r) for r in self._get(path, page)]
        term = params.get("search")
        return [r for r in repos if not term or term.lower() in (r["fullName"] or "").lower()]

    @action("repo.read", cache_ttl=300, scopes=("repo",), params=_obj(["owner", "repo"], **_OWNER_REPO))
    def repo_read(self, params: dict[str, Any]) -> dict[str, Any]:
        """Read one repository."""
        return _repository(self._get(f"/repos/{params['owner']}/{params['repo']}"))

    @action(
        "repo.clone",
        scopes=("repo",),
        params=_obj(["owner", "repo", "directory"], directory=_S, ref=_S, **_OWNER_REPO),
    )
    def repo_clone(self, params: dict[str, Any]) -> dict[str, Any]:
        """Describe how to clone a repository (the clone itself comes with the SCM issue)."""
        repo = _repository(self._get(f"/repos/{params['owner']}/{params['repo']}"))
        return {"cloneUrl": repo["cloneUrl"], "directory": params["directory"], "cloned": False}

    # ---------------------------------------------------------------- pull requests
    @action(
        "pr.list",
        cache_ttl=60,
        scopes=("repo",),
        params=_obj(
            ["owner", "repo"],
            state={"type": "string", "enum": ["open", "closed", "all"], "default": "open"},
            **_OWNER_REPO,
            **_PAGE,
        ),
    )
    def pr_list(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """List pull requests."""
        q = {"state": params["state"], "page": params["page"], "per_page": self._per_page(params)}
        return [_pull(p) for p in self._get(f"/repos/{params['owner']}/{params['repo']}/pulls", q)]

    @action(
        "pr.create",
        mutating=True,
        scopes=("repo",),
        params=_obj(
            ["owner", "repo", "title", "head", "base"],
            title=_S,
            head=_S,
            base=_S,
            body=_S,
            draft={"type": "boolean"},
            **_OWNER_REPO,
        ),
    )
    def pr_create(self, params: dict[str, Any]) -> dict[str, Any]:
        """Open a pull request."""
        body: dict[str, Any] = {
            k: params[k] for k in ("title", "head", "base", "body", "draft") if k in params
        }
        return _pull(self._send("POST", f"/repos/{params['owner']}/{params['repo']}/pulls", body))

    @action(
        "pr.review",
        mutating=True,
        scopes=("repo",),
        params=_obj(
            ["owner", "repo", "number", "event"],
            number=_I,
            body=_S,
            event={"type": "string", "enum": ["APPROVE", "REQUEST_CHANGES", "COMMENT"]},
            **_OWNER_REPO,
        ),
    )
    def pr_review(self, params: dict[str, Any]) -> dict[str, Any]:
        """Review a pull request (approve, request changes, or comment)."""
        body = {"event": params["event"], **({"body": params["body"]} if "body" in params else {})}
        path = f"/repos/{params['owner']}/{params['repo']}/pulls/{params['number']}/reviews"
        review = self._send("POST", path, body)
        return {
            "id": str(review.get("id")),
            "state": review.get("state"),
            "url": review.get("html_url"),
        }

    @action(
        "pr.merge",
        mutating=True,
        scopes=("repo",),
        params=_obj(
            ["owner", "repo", "number"],
            number=_I,
            method={"type": "string", "enum": ["merge", "squash", "rebase"], "default": "merge"},
            commit_title=_S,
            **_OWNER_REPO,
        ),
    )
    def pr_merge(self, params: dict[str, Any]) -> dict[str, Any]:
        """Merge a pull request."""
        body = {
            "merge_method": params["method"],
            **({"commit_title": params["commit_title"]} if "commit_title" in params else {}),
        }
        path = f"/repos/{params['owner']}/{params['repo']}/pulls/{params['number']}/merge"
        out = self._send("PUT", path, body)
        return {
            "merged": bool(out.get("merged")),
            "sha": out.get("sha"),
            "message": out.get("message"),
        }

    # ---------------------------------------------------------------- issues
    @action(
        "issue.list",
        cache_ttl=60,
        scopes=("repo",),
        params=_obj(
            ["owner", "repo"],
            state={"type": "string", "enum": ["open", "closed", "all"], "default": "open"},
            **_OWNER_REPO,
            **_PAGE,
        ),
    )
    def issue_list(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """List issues (pull requests excluded)."""
        q = {"state": params["state"], "page": params["page"], "per_page": self._per_page(params)}
        items = self._get(f"/repos/{params['owner']}/{params['repo']}/issues", q)
        return [_issue(i) for i in items if "pull_request" not in i]

    @action(
        "issue.create",
        mutating=True,
        scopes=("repo",),
        params=_obj(
            ["owner", "repo", "title"],
            title=_S,
            body=_S,
            labels={"type": "array", "items": _S},
            assignees={"type": "array", "items": _S},
            **_OWNER_REPO,
        ),
    )
    def issue_create(self, params: dict[str, Any]) -> dict[str, Any]:
        """Create an issue."""
        body: dict[str, Any] = {k: params[k] for k in ("title", "body", "labels", "assignees") if k in params}
        return _issue(self._send("POST", f"/repos/{params['owner']}/{params['repo']}/issues", body))

    @action(
        "issue.update",
        mutating=True,
        scopes=("repo",),
        params=_obj(
            ["owner", "repo", "number"],
            number=_I,
            title=_S,
            body=_S,
            state={"type": "string", "enum": ["open", "closed"]},
            labels={"type": "array", "items": _S},
            assignees={"type": "array", "items": _S},
            **_OWNER_REPO,
        ),
    )
    def issue_update(self, params: dict[str, Any]) -> dict[str, Any]:
        """Update an issue."""
        body: dict[str, Any] = {
            k: params[k] for k in ("title", "body", "state", "labels", "assignees") if k in params
        }
        path = f"/repos/{params['owner']}/{params['repo']}/issues/{params['number']}"
        return _issue(self._send("PATCH", path, body))

    # ---------------------------------------------------------------- Actions
    @action(
        "actions.list",
        cache_ttl=30,
        scopes=("actions:read",),
        params=_obj(["owner", "repo"], branch=_S, status=_S, **_OWNER_REPO, **_PAGE),
    )
    def actions_list(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """List workflow runs."""
        q: dict[str, Any] = {k: params[k] for k in ("branch", "status", "page", "per_page") if k in params}
        data = self._get(f"/repos/{params['owner']}/{params['repo']}/actions/runs", q)
        return [_run(r) for r in data.get("workflow_runs", [])]

    @action(
        "actions.trigger",
        mutating=True,
        scopes=("workflow",),
        params=_obj(
            ["owner", "repo", "workflow", "ref"],
            workflow=_S,
            ref=_S,
            inputs={"type": "object"},
            **_OWNER_REPO,
        ),
    )
    def actions_trigger(self, params: dict[str, Any]) -> dict[str, Any]:
        """Dispatch a workflow; GitHub answers 204, so the started run is looked up afterwards."""
        base = f"/repos/{params['owner']}/{params['repo']}/actions/workflows/{params['workflow']}"
        self._send(
            "POST",
            f"{base}/dispatches",
            {"ref": params["ref"], "inputs": params.get("inputs") or {}},
        )
        runs = self._get(
            f"{base}/runs", {"event": "workflow_dispatch", "branch": params["ref"], "per_page": 1}
        )
        found = runs.get("workflow_runs") or []
        return _run(found[0]) if found else {"status": "queued", "id": None}

    @action(
        "actions.status",
        scopes=("actions:read",),
        params=_obj(["owner", "repo", "run_id"], run_id=_I, **_OWNER_REPO),
    )
    def actions_status(self, params: dict[str, Any]) -> dict[str, Any]:
        """Status of one workflow run."""
        return _run(self._get(f"/repos/{params['owner']}/{params['repo']}/actions/runs/{params['run_id']}"))

    # ---------------------------------------------------------------- search
    @action(
        "search.code",
        weight=5,
        cache_ttl=60,
        scopes=("repo",),
        params=_obj(["query"], query=_S, **_PAGE),
    )
    def search_code(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Search code."""
        q = {"q": params["query"], "page": params["page"], "per_page": self._per_page(params)}
        items = self._get("/search/code", q).get("items", [])
        return [
            {
                "path": i.get("path"),
                "repository": (i.get("repository") or {}).get("full_name"),
                "url": i.get("html_url"),
                "sha": i.get("sha"),
            }
            for i in items
        ]

    @action(
        "search.issues",
        weight=5,
        cache_ttl=60,
        scopes=("repo",),
        params=_obj(["query"], query=_S, **_PAGE),
    )
    def search_issues(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Search issues and pull requests."""
        q = {"q": params["query"], "page": params["page"], "per_page": self._per_page(params)}
        return [_issue(i) for i in self._get("/search/issues", q).get("items", [])]

    @action("webhook.receive", scopes=("admin:repo_hook",))
    def webhook_receive(self, params: dict[str, Any]) -> dict[str, Any]:
        """Webhook deliveries arrive through `cuervo-fabric serve`, not through exec."""
        return {"receiver": "POST /webhooks/<instanceId>/<secret> on `cuervo-fabric serve`"}
