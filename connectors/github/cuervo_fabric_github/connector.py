"""The ``github`` connector: repositories, pull requests, issues, Actions, search and webhooks.

Written on the public SDK surface only, as a third-party connector would be. It implements the
``SourceControlAdapter`` (the seed's ISourceControlAdapter) and exposes it as the standard SCM
actions, so the same scripts run against ``gitlab``::

    cuervo-fabric connector install github --name gh
    gh auth token | cuervo-fabric auth login gh --with-token
    cuervo-fabric exec gh pr.create -p owner=octo -p repo=app -p title=Fix -p head=fix -p base=main --json

GitHub Enterprise Server: ``--set base_url=https://HOST/api/v3``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from cuervo_fabric.sdk import (
    AuthFailedError,
    CloneResult,
    CodeSearchResult,
    Comment,
    ConnectorCategory,
    ConnectorMetadata,
    CreateIssueInput,
    CreatePRInput,
    FabricTimeoutError,
    FileContent,
    GitHubSignature,
    IncomingWebhook,
    InvalidInputError,
    Issue,
    IssueListOptions,
    ListOptions,
    MergeOptions,
    MergeResult,
    Permission,
    PermissionDeniedError,
    PRListOptions,
    PullRequest,
    PullRequestDetail,
    RateLimitedError,
    RateLimits,
    RepoListOptions,
    Repository,
    Review,
    ReviewComment,
    SearchOptions,
    SourceControlConnector,
    TreeNode,
    UpdateIssueInput,
    Webhook,
    WebhookRegistration,
    WebhookSpec,
    WorkflowRun,
    WorkflowRunDetail,
    WorkflowRunOptions,
    clone_with_git,
    git_credential,
    header,
    paginate_link_header,
    poll_until,
)
from cuervo_fabric_github import _mapping as m
from cuervo_fabric_github._conditional import ConditionalGet

if TYPE_CHECKING:
    import httpx

    from cuervo_fabric.sdk import SourceControlAdapter

__all__ = ["API_VERSION", "GitHubConnector", "event_type"]

#: The REST API version sent as ``X-GitHub-Api-Version`` (setting ``api_version`` overrides it).
API_VERSION = "2022-11-28"

#: Events a new hook subscribes to unless ``events`` says otherwise.
DEFAULT_HOOK_EVENTS = (
    "push",
    "pull_request",
    "pull_request_review",
    "issues",
    "issue_comment",
    "workflow_run",
)

_OAUTH_SETTINGS: dict[str, Any] = {
    "authorize_url": {
        "type": "string",
        "default": "https://github.com/login/oauth/authorize",
        "description": "OAuth app authorization endpoint (GHES: https://HOST/login/oauth/authorize)",
    },
    "token_url": {
        "type": "string",
        "default": "https://github.com/login/oauth/access_token",
        "description": "OAuth token endpoint (GHES: https://HOST/login/oauth/access_token)",
    },
    "device_authorization_url": {
        "type": "string",
        "default": "https://github.com/login/device/code",
        "description": "Device flow endpoint (GHES: https://HOST/login/device/code)",
    },
    "revocation_url": {"type": "string", "description": "Token revocation endpoint, if any"},
    "client_id": {"type": "string", "description": "OAuth app (or GitHub App) client id"},
    "scopes": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["repo", "workflow", "admin:repo_hook"],
        "description": "OAuth scopes (classic)",
    },
}


def event_type(req: IncomingWebhook) -> str:
    """``github.<X-GitHub-Event>.<action>`` (``github.<event>`` for events without an action)."""
    event = req.header("X-GitHub-Event")
    body = req.json()
    act = body.get("action") if isinstance(body, dict) else None
    return f"github.{event}.{act}" if isinstance(act, str) and act else f"github.{event}"


def _seg(value: Any) -> str:
    """One URL path segment: ``owner=../x`` must not walk the API's paths."""
    return quote(str(value), safe="")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GitHubConnector(SourceControlConnector):
    """GitHub REST API (github.com and GitHub Enterprise Server) through the gateway."""

    id = "github"
    version = "2.3.0"
    versions = ("2.2.0",)
    metadata = ConnectorMetadata(
        name="GitHub",
        description="Repositories, pull requests, issues, Actions, search and webhooks on GitHub",
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
            "code.read", "Read repositories, pull requests, issues and runs", True, "Every read action"
        ),
        Permission(
            "code.write",
            "Open, review, comment on and merge pull requests",
            False,
            "pr.create, pr.review, pr.comment and pr.merge change repositories",
        ),
        Permission("issues.write", "Create and update issues", False, "issue.create, issue.update"),
        Permission("ci.trigger", "Dispatch workflow runs", False, "actions.trigger"),
        Permission("webhooks.admin", "Add and remove repository webhooks", False, "webhook.register"),
    )
    #: bearer_token: a fine-grained or classic personal access token; oauth2: an OAuth app (web or
    #: device flow); service_account: a GitHub App installation (app_id + installation_id).
    auth_types = ("bearer_token", "oauth2", "service_account")
    auth_type_setting = "auth_type"
    #: GitHub's primary limit for a user token; the gateway also follows x-ratelimit-* headers.
    default_rate_limits = RateLimits(requests_per_hour=5000)
    receives_webhooks = True
    webhook = WebhookSpec(
        verifier=GitHubSignature(),
        event_type=event_type,
        delivery_id=header("X-GitHub-Delivery"),
        events=("github.<event>.<action>", "github.push", "github.ping"),
    )
    health_path = "/rate_limit"
    read_scopes = ("repo",)
    write_scopes = ("repo",)
    action_scopes = {
        "actions.trigger": ("workflow",),
        **dict.fromkeys(("webhook.register", "webhook.unregister", "webhook.receive"), ("admin:repo_hook",)),
    }
    action_params = {"pr.create": {"maintainer_can_modify": {"type": "boolean"}}}
    action_descriptions = {"issue.list": "List issues (pull requests excluded)."}
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "base_url": {
                "type": "string",
                "pattern": "^https?://",
                "default": "https://api.github.com",
                "description": "API root (GitHub Enterprise Server: https://HOST/api/v3)",
            },
            "auth_type": {
                "type": "string",
                "enum": list(auth_types),
                "default": "bearer_token",
                "description": "bearer_token (PAT), oauth2 (OAuth app) or service_account (GitHub App)",
            },
            "api_version": {
                "type": "string",
                "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                "default": API_VERSION,
                "description": "Sent as X-GitHub-Api-Version",
            },
            "org": {"type": "string", "description": "Default organisation of repo.list"},
            "per_page": {
                "type": "integer",
                "minimum": 1,
                "maximum": 100,
                "default": 30,
                "description": "Default page size of list and search actions",
            },
            "dispatch_timeout_s": {
                "type": "integer",
                "minimum": 1,
                "maximum": 600,
                "default": 30,
                "description": "How long actions.trigger looks for the run it started",
            },
            **_OAUTH_SETTINGS,
            "app_id": {"type": "string", "description": "GitHub App id (service_account)"},
            "installation_id": {"type": "string", "description": "GitHub App installation id"},
            "webhook_repos": {
                "type": "array",
                "items": {"type": "string", "pattern": "^[^/]+/[^/]+$"},
                "description": "owner/repo list whose hooks to this instance are removed on uninstall",
            },
            "webhook_secret_ref": {"type": "string"},
        },
    }

    # ------------------------------------------------------------------ plumbing
    def on_initialize(self) -> None:
        self.base_url = str(self.settings.get("base_url") or "https://api.github.com").rstrip("/")
        self.api_version = str(self.settings.get("api_version") or API_VERSION)
        self.conditional = ConditionalGet(self.http, self.context)

    @property
    def is_enterprise_server(self) -> bool:
        """GHES serves the API under ``/api/v3`` on its own host."""
        return urlsplit(self.base_url).path.rstrip("/").endswith("/api/v3")

    def _headers(self, accept: str = "application/vnd.github+json") -> dict[str, str]:
        return {"Accept": accept, "X-GitHub-Api-Version": self.api_version}

    def _get(self, path: str, params: dict[str, Any] | None = None, accept: str | None = None) -> Any:
        """GET with ``If-None-Match``: a 304 serves the body stored with the ETag."""
        return self.conditional.get(
            path, params=params, headers=self._headers(accept or "application/vnd.github+json")
        )

    def _get_response(self, path: str) -> httpx.Response:
        return self.http.get(path, headers=self._headers())

    def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = self.http.request(method, path, json=body, headers=self._headers())
        return resp.json() if resp.content else None

    def _per_page(self, opts: ListOptions | dict[str, Any]) -> int:
        return int(opts.get("perPage") or self.settings.get("per_page") or 30)

    def _list(
        self,
        path: str,
        query: dict[str, Any],
        opts: ListOptions | dict[str, Any],
        *,
        items: str | Callable[[Any], list[Any]] | None = None,
        accept: str | None = None,
    ) -> list[Any]:
        """One page (``page``/``perPage``), or every page following ``Link`` (``all``/``maxItems``)."""
        everything = bool(opts.get("all")) or opts.get("maxItems") is not None
        q = {**{k: v for k, v in query.items() if v is not None}, "per_page": self._per_page(opts)}
        q["page"] = int(opts.get("page") or 1)
        pages: Iterator[Any] = paginate_link_header(
            self.http,
            path,
            params=q,
            headers=self._headers(accept or "application/vnd.github+json"),
            items=items,
            max_pages=None if everything else 1,
            max_items=opts.get("maxItems"),
        )
        return list(pages)

    def _repo_path(self, owner: str, repo: str) -> str:
        return f"/repos/{_seg(owner)}/{_seg(repo)}"

    def on_health_check(self) -> dict[str, Any]:
        """``GET /rate_limit`` (free of charge): revoked token, rate limit and outage differ.

        401 raises AUTH_FAILED (token revoked or expired), 5xx and connection failures raise
        UPSTREAM_ERROR (service down), and an exhausted limit raises RATE_LIMITED.
        """
        try:
            resp = self.http.get("/rate_limit", headers=self._headers())
        except AuthFailedError as exc:
            raise AuthFailedError(
                f"GitHub rejected the token (revoked, expired or wrong): {exc.message}", details=exc.details
            ) from exc
        except PermissionDeniedError as exc:
            if "rate limit" in exc.message.lower():
                raise RateLimitedError(f"GitHub rate limit: {exc.message}", details=exc.details) from exc
            raise
        data = resp.json() if resp.content else {}
        resources = data.get("resources") or {}
        core = resources.get("core") or data.get("rate") or {}
        if core.get("remaining") == 0:
            reset = core.get("reset")
            retry_ms = max(0, int((float(reset) - time.time()) * 1000)) if reset else None
            raise RateLimitedError(
                "GitHub's primary rate limit is exhausted"
                + (f" until {_iso(float(reset))}" if reset else ""),
                retry_after_ms=retry_ms,
                details={"limitType": "external", "resource": "core"},
            )
        return {"status": "healthy"}

    # ------------------------------------------------------------------ the adapter
    def list_repositories(self, opts: RepoListOptions) -> list[Repository]:
        org = opts.get("org") or self.settings.get("org")
        path = f"/orgs/{_seg(org)}/repos" if org else "/user/repos"
        repos = [m.repository(r, self.include_raw) for r in self._list(path, {}, opts)]
        term = (opts.get("search") or "").lower()
        return [r for r in repos if not term or term in r["fullName"].lower()]

    def get_repository(self, owner: str, repo: str) -> Repository:
        return m.repository(self._get(self._repo_path(owner, repo)), self.include_raw)

    def get_file_content(self, owner: str, repo: str, path: str, ref: str | None = None) -> FileContent:
        segments = "/".join(_seg(p) for p in path.strip("/").split("/"))
        data = self._get(f"{self._repo_path(owner, repo)}/contents/{segments}", {"ref": ref} if ref else None)
        if isinstance(data, list):
            raise InvalidInputError(f"{path!r} is a directory; use repo.tree", details={"field": "path"})
        if data.get("type") not in (None, "file"):
            raise InvalidInputError(
                f"{path!r} is a {data.get('type')}, not a file", details={"field": "path"}
            )
        return m.file_content(data, self.include_raw)

    def get_directory_tree(self, owner: str, repo: str, ref: str | None = None) -> list[TreeNode]:
        tree_ref = ref or self.get_repository(owner, repo)["defaultBranch"]
        data = self._get(f"{self._repo_path(owner, repo)}/git/trees/{_seg(tree_ref)}", {"recursive": "1"})
        return [m.tree_node(t) for t in data.get("tree") or []]

    def list_pull_requests(self, owner: str, repo: str, opts: PRListOptions) -> list[PullRequest]:
        state = opts.get("state") or "open"
        query: dict[str, Any] = {
            "state": "closed" if state == "merged" else state,
            "head": opts.get("head"),
            "base": opts.get("base"),
        }
        if query["head"] and ":" not in str(query["head"]):
            query["head"] = f"{owner}:{query['head']}"

        def keep(body: Any) -> list[Any]:
            return [p for p in body if state != "merged" or p.get("merged_at")]

        found = self._list(f"{self._repo_path(owner, repo)}/pulls", query, opts, items=keep)
        return [m.pull(p, self.include_raw) for p in found]

    def create_pull_request(self, owner: str, repo: str, pr: CreatePRInput) -> PullRequest:
        """Open a pull request; ``pr`` may also carry GitHub's ``maintainer_can_modify``."""
        keys = ("title", "head", "base", "body", "draft", "maintainer_can_modify")
        body = {k: v for k, v in pr.items() if k in keys}
        return m.pull(self._send("POST", f"{self._repo_path(owner, repo)}/pulls", body), self.include_raw)

    def get_pull_request(self, owner: str, repo: str, number: int) -> PullRequestDetail:
        base = f"{self._repo_path(owner, repo)}/pulls/{int(number)}"
        pr = self._get(base)
        reviews = self._list(f"{base}/reviews", {}, {"all": True, "perPage": 100})
        return m.pull_detail(pr, reviews, self.include_raw)

    def review_pull_request(self, owner: str, repo: str, number: int, event: str, body: str | None) -> Review:
        if event in ("REQUEST_CHANGES", "COMMENT") and not body:
            raise InvalidInputError(f"body: required when event is {event}", details={"field": "body"})
        payload: dict[str, Any] = {"event": event, **({"body": body} if body else {})}
        path = f"{self._repo_path(owner, repo)}/pulls/{int(number)}/reviews"
        return m.review(self._send("POST", path, payload), self.include_raw)

    def add_review_comment(self, owner: str, repo: str, pr_number: int, comment: ReviewComment) -> Comment:
        base = self._repo_path(owner, repo)
        if "path" in comment or "line" in comment:
            if "path" not in comment or "line" not in comment:
                missing = "line" if "path" in comment else "path"
                raise InvalidInputError(
                    f"{missing}: a line comment needs path and line", details={"field": missing}
                )
            commit = comment.get("commitId") or self._get(f"{base}/pulls/{int(pr_number)}")["head"]["sha"]
            payload = {
                "body": comment["body"],
                "commit_id": commit,
                "path": comment["path"],
                "line": comment["line"],
                "side": "RIGHT",
            }
            return m.comment(
                self._send("POST", f"{base}/pulls/{int(pr_number)}/comments", payload), self.include_raw
            )
        payload = {"body": comment["body"]}
        return m.comment(
            self._send("POST", f"{base}/issues/{int(pr_number)}/comments", payload), self.include_raw
        )

    def merge_pull_request(self, owner: str, repo: str, pr_number: int, opts: MergeOptions) -> MergeResult:
        body: dict[str, Any] = {
            "merge_method": opts.get("method") or "merge",
            "commit_title": opts.get("commitTitle"),
            "commit_message": opts.get("commitMessage"),
            "sha": opts.get("sha"),
        }
        body = {k: v for k, v in body.items() if v is not None}
        path = f"{self._repo_path(owner, repo)}/pulls/{int(pr_number)}/merge"
        return m.merge_result(self._send("PUT", path, body), self.include_raw)

    def list_issues(self, owner: str, repo: str, opts: IssueListOptions) -> list[Issue]:
        query: dict[str, Any] = {
            "state": opts.get("state") or "open",
            "labels": ",".join(opts["labels"]) if opts.get("labels") else None,
            "assignee": opts.get("assignee"),
        }

        def only_issues(body: Any) -> list[Any]:
            return [i for i in body if "pull_request" not in i]

        found = self._list(f"{self._repo_path(owner, repo)}/issues", query, opts, items=only_issues)
        return [m.issue(i, self.include_raw) for i in found]

    def create_issue(self, owner: str, repo: str, issue: CreateIssueInput) -> Issue:
        body = {k: v for k, v in issue.items() if k in ("title", "body", "labels", "assignees")}
        return m.issue(self._send("POST", f"{self._repo_path(owner, repo)}/issues", body), self.include_raw)

    def update_issue(self, owner: str, repo: str, number: int, update: UpdateIssueInput) -> Issue:
        body = {k: v for k, v in update.items() if k in ("title", "body", "state", "labels", "assignees")}
        if not body:
            raise InvalidInputError("nothing to update: give title, body, state, labels or assignees")
        path = f"{self._repo_path(owner, repo)}/issues/{int(number)}"
        return m.issue(self._send("PATCH", path, body), self.include_raw)

    def list_workflow_runs(
        self, owner: str, repo: str, opts: WorkflowRunOptions | None = None
    ) -> list[WorkflowRun]:
        o: WorkflowRunOptions = opts or {}
        base = self._repo_path(owner, repo)
        path = (
            f"{base}/actions/workflows/{_seg(o['workflow'])}/runs"
            if o.get("workflow")
            else f"{base}/actions/runs"
        )
        query = {"branch": o.get("branch"), "status": o.get("status"), "event": o.get("event")}
        return [
            m.workflow_run(r, self.include_raw) for r in self._list(path, query, o, items="workflow_runs")
        ]

    def trigger_workflow(
        self, owner: str, repo: str, workflow_id: str, inputs: dict[str, str], ref: str | None = None
    ) -> WorkflowRun:
        """Dispatch ``workflow_id`` and return the run it started.

        github.com answers the dispatch with the run's id (``return_run_details``). GitHub Enterprise
        Server answers 204 with no body: the run is then found by listing ``workflow_dispatch`` runs
        of the workflow on ``ref`` created since the dispatch that did not exist before it, polling
        for ``dispatch_timeout_s`` (a few seconds usually).
        """
        base = self._repo_path(owner, repo)
        ref = ref or self.get_repository(owner, repo)["defaultBranch"]
        wf = f"{base}/actions/workflows/{_seg(workflow_id)}"
        since = time.time() - 120  # the provider's clock may be behind ours
        runs_query = {
            "event": "workflow_dispatch",
            "branch": ref,
            "created": f">={_iso(since)}",
            "per_page": 20,
        }
        before: set[Any] = set()
        dotcom = not self.is_enterprise_server
        if not dotcom:
            before = {r.get("id") for r in self._get(f"{wf}/runs", runs_query).get("workflow_runs") or []}
        payload: dict[str, Any] = {"ref": ref, "inputs": dict(inputs or {})}
        if dotcom:
            payload["return_run_details"] = True
        resp = self.http.post(f"{wf}/dispatches", json=payload, headers=self._headers())
        details = resp.json() if resp.content else {}
        run_id = details.get("workflow_run_id") if isinstance(details, dict) else None
        if run_id:
            return m.workflow_run(self._get(f"{base}/actions/runs/{int(run_id)}"), self.include_raw)

        def new_runs() -> list[dict[str, Any]]:
            runs = self._get(f"{wf}/runs", runs_query).get("workflow_runs") or []
            return [r for r in runs if r.get("id") not in before]

        timeout_s = float(self.settings.get("dispatch_timeout_s") or 30)
        try:
            found = poll_until(new_runs, bool, interval_s=2.0, timeout_s=timeout_s)
        except FabricTimeoutError as exc:
            raise FabricTimeoutError(
                f"workflow {workflow_id!r} was dispatched on {ref!r}, but its run did not appear within "
                f"{timeout_s:g} s; look for it with actions.list",
                retryable=False,
                details={"dispatched": True, "workflow": workflow_id, "ref": ref},
            ) from exc
        newest = max(found, key=lambda r: (str(r.get("created_at") or ""), int(r.get("id") or 0)))
        return m.workflow_run(newest, self.include_raw)

    def get_workflow_run_status(self, owner: str, repo: str, run_id: int) -> WorkflowRunDetail:
        base = f"{self._repo_path(owner, repo)}/actions/runs/{int(run_id)}"
        run = self._get(base)
        jobs = self._list(f"{base}/jobs", {}, {"all": True, "perPage": 100}, items="jobs")
        return m.workflow_run_detail(run, jobs, self.include_raw)

    @staticmethod
    def _scoped(query: str, opts: SearchOptions) -> str:
        owner, repo = opts.get("owner"), opts.get("repo")
        if owner and repo:
            return f"{query} repo:{owner}/{repo}"
        if owner:
            return f"{query} user:{owner}"
        return query

    def search_code(self, query: str, opts: SearchOptions | None = None) -> list[CodeSearchResult]:
        o: SearchOptions = opts or {}
        found = self._list(
            "/search/code",
            {"q": self._scoped(query, o)},
            o,
            items="items",
            accept="application/vnd.github.text-match+json",
        )
        return [m.code_result(c, self.include_raw) for c in found]

    def search_issues(self, query: str, opts: SearchOptions | None = None) -> list[Issue]:
        o: SearchOptions = opts or {}
        found = self._list("/search/issues", {"q": self._scoped(query, o)}, o, items="items")
        return [m.issue(i, self.include_raw) for i in found]

    # ------------------------------------------------------------------ repository operations
    def clone_repository(
        self, owner: str, repo: str, directory: str, ref: str | None = None, depth: int | None = None
    ) -> CloneResult:
        """Clone with ``git``: the instance's token reaches git through GIT_ASKPASS, never disk or argv."""
        resp = self._get_response(self._repo_path(owner, repo))
        info = resp.json()
        clone_url = str(info.get("clone_url") or "")
        if not clone_url:
            raise InvalidInputError(f"{owner}/{repo} has no clone URL")
        credential = git_credential(resp, clone_url, username="x-access-token")
        return clone_with_git(
            clone_url,
            directory,
            credential=credential,
            ref=ref,
            depth=depth,
            default_ref=str(info.get("default_branch") or "") or None,
        )

    # ------------------------------------------------------------------ webhooks
    def _hooks_path(self, target: WebhookRegistration | dict[str, Any]) -> str:
        if target.get("org"):
            return f"/orgs/{_seg(target['org'])}/hooks"
        if target.get("owner") and target.get("repo"):
            return f"{self._repo_path(str(target['owner']), str(target['repo']))}/hooks"
        raise InvalidInputError("give owner and repo (a repository hook) or org", details={"field": "owner"})

    def register_webhooks(self, webhooks: list[WebhookRegistration]) -> list[Webhook]:
        """The seed's registerWebhooks: create each hook, or update the one already delivering there."""
        out: list[Webhook] = []
        for reg in webhooks:
            path = self._hooks_path(reg)
            config: dict[str, Any] = {"url": reg["url"], "content_type": "json", "insecure_ssl": "0"}
            if reg.get("secret"):
                config["secret"] = reg["secret"]
            body = {
                "name": "web",
                "active": True,
                "events": list(reg.get("events") or DEFAULT_HOOK_EVENTS),
                "config": config,
            }
            existing = [
                h
                for h in self._list(path, {}, {"all": True, "perPage": 100})
                if (h.get("config") or {}).get("url") == reg["url"]
            ]
            if existing:
                hook_id = int(existing[0]["id"])
                hook = self._send(
                    "PATCH", f"{path}/{hook_id}", {k: body[k] for k in ("active", "events", "config")}
                )
            else:
                hook = self._send("POST", path, body)
            out.append(m.webhook(hook, self.include_raw))
        return out

    def deregister_webhooks(self, target: dict[str, Any]) -> list[str]:
        """Remove hooks: ``hook_id``, or those delivering to ``url``, or (default) to this instance."""
        path = self._hooks_path(target)
        if target.get("hook_id"):
            self._send("DELETE", f"{path}/{int(target['hook_id'])}")
            return [str(target["hook_id"])]
        marker = str(target.get("url") or f"/webhooks/{self.context.instance_id}/")
        removed: list[str] = []
        for h in self._list(path, {}, {"all": True, "perPage": 100}):
            url = str((h.get("config") or {}).get("url") or "")
            if (url == marker) if target.get("url") else (marker in url):
                self._send("DELETE", f"{path}/{int(h['id'])}")
                removed.append(str(h["id"]))
        return removed

    def on_uninstall(self) -> None:
        """Remove this instance's hooks from every repository in ``webhook_repos``."""
        for full in self.settings.get("webhook_repos") or []:
            owner, _, repo = str(full).partition("/")
            self.deregister_webhooks({"owner": owner, "repo": repo})


if TYPE_CHECKING:

    def _is_adapter(connector: GitHubConnector) -> SourceControlAdapter:
        return connector
