"""The ``gitlab`` connector: projects, merge requests, issues, pipelines, search and webhooks.

It implements the same ``SourceControlAdapter`` and the same standard actions as ``github``, in
GitLab's terms: ``owner``/``repo`` name a project by its namespace path (``group/subgroup`` and
``project``), a pull request is a merge request (``number`` is its ``iid``), ``actions.*`` are
pipelines. Self-managed GitLab: ``--set base_url=https://HOST/api/v4``::

    cuervo-fabric connector install gitlab --name gl
    echo "$GITLAB_TOKEN" | cuervo-fabric auth login gl --api-key
    cuervo-fabric exec gl pr.create -p owner=group -p repo=app -p title=Fix -p head=fix -p base=main --json
"""

from __future__ import annotations

from collections.abc import Callable
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
    FileContent,
    GitLabToken,
    IncomingWebhook,
    InvalidInputError,
    Issue,
    IssueListOptions,
    ListOptions,
    MergeOptions,
    MergeResult,
    NotFoundError,
    Permission,
    PRListOptions,
    PullRequest,
    PullRequestDetail,
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
)
from cuervo_fabric_gitlab import _mapping as m
from cuervo_fabric_gitlab._pages import paginate

if TYPE_CHECKING:
    from cuervo_fabric.sdk import SourceControlAdapter

__all__ = ["GitLabConnector", "delivery_id", "event_type"]

DEFAULT_HOOK_EVENTS = ("push", "merge_requests", "issues", "note", "pipeline")

#: Most repository trees fit; a bigger one is cut here rather than paging for minutes.
MAX_TREE_ITEMS = 20_000


def _snake(text: str) -> str:
    out = "".join("_" + c.lower() if c.isupper() else c for c in text).lstrip("_")
    return out.replace(" ", "_").replace("__", "_")


def event_type(req: IncomingWebhook) -> str:
    """``gitlab.<object_kind>[.<action>]``: ``gitlab.merge_request.open``, ``gitlab.pipeline.success``.

    The second part is the object's ``action`` (issues, merge requests, releases), the status of a
    pipeline, job or deployment, or what a note is on (``gitlab.note.merge_request``).
    """
    body = req.json()
    kind = body.get("object_kind") if isinstance(body, dict) else None
    if not isinstance(kind, str) or not kind:
        return "gitlab." + _snake(req.header("X-Gitlab-Event").removesuffix(" Hook").replace(" ", ""))
    attrs = body.get("object_attributes") or {}
    detail: Any = None
    if kind == "note":
        detail = _snake(str(attrs.get("noteable_type") or "")) or None
    elif kind in ("pipeline",):
        detail = attrs.get("status")
    elif kind == "build":
        detail = body.get("build_status")
    elif kind == "deployment":
        detail = body.get("status")
    else:
        detail = attrs.get("action") or body.get("action")
    return f"gitlab.{kind}.{detail}" if isinstance(detail, str) and detail else f"gitlab.{kind}"


def delivery_id(req: IncomingWebhook) -> str:
    """``Idempotency-Key`` (one per delivery, kept across retries), else ``X-Gitlab-Event-UUID``."""
    return req.header("Idempotency-Key", required=False) or req.header("X-Gitlab-Event-UUID")


def _project(owner: str, repo: str) -> str:
    """A project id for a URL path: the full path, URL-encoded (``group%2Fsub%2Fapp``)."""
    return quote(f"{owner.strip('/')}/{repo}", safe="")


_MR_STATES = {"open": "opened", "closed": "closed", "merged": "merged", "all": "all"}
_ISSUE_STATES = {"open": "opened", "closed": "closed", "all": "all"}


class GitLabConnector(SourceControlConnector):
    """GitLab REST API v4 (GitLab.com and self-managed) through the gateway."""

    id = "gitlab"
    version = "1.0.0"
    metadata = ConnectorMetadata(
        name="GitLab",
        description="Projects, merge requests, issues, pipelines, search and webhooks on GitLab",
        category=ConnectorCategory.SOURCE_CONTROL,
        vendor="GitLab Inc.",
        documentation_url="https://docs.gitlab.com/api/rest/",
        support_url="https://about.gitlab.com/support/",
        privacy_policy_url="https://about.gitlab.com/privacy/",
        tags=("scm", "git", "ci"),
        target_api_version="v4",
    )
    required_permissions = (
        Permission("code.read", "Read projects, merge requests, issues and pipelines", True, "Every read"),
        Permission(
            "code.write",
            "Open, approve, comment on and merge merge requests",
            False,
            "pr.create, pr.review, pr.comment and pr.merge change projects",
        ),
        Permission("issues.write", "Create and update issues", False, "issue.create, issue.update"),
        Permission("ci.trigger", "Run pipelines", False, "actions.trigger"),
        Permission("webhooks.admin", "Add and remove project webhooks", False, "webhook.register"),
    )
    #: api_key: a personal, project or group access token sent as PRIVATE-TOKEN; oauth2: an OAuth
    #: application (web or device flow); bearer_token: an OAuth token obtained elsewhere.
    auth_types = ("api_key", "oauth2", "bearer_token")
    auth_type_setting = "auth_type"
    #: GitLab.com's authenticated API limit; the gateway also follows RateLimit-* and Retry-After.
    default_rate_limits = RateLimits(requests_per_minute=2000)
    receives_webhooks = True
    webhook = WebhookSpec(
        verifier=GitLabToken(),
        event_type=event_type,
        delivery_id=delivery_id,
        events=("gitlab.<object_kind>.<action>", "gitlab.push", "gitlab.pipeline.<status>"),
    )
    health_path = "/user"
    read_scopes = ("read_api",)
    write_scopes = ("api",)
    action_scopes = {"repo.clone": ("read_repository",), "webhook.receive": ("api",)}
    action_descriptions = {
        "repo.list": "List the caller's projects (or a group's, with org).",
        "repo.read": "Read one project.",
        "repo.clone": "Clone a project with git into a directory, using the instance's credential.",
        "repo.tree": "List every file and directory of a project at a ref.",
        "pr.list": "List merge requests.",
        "pr.read": "Read one merge request with its approval status.",
        "pr.create": "Open a merge request.",
        "pr.review": "Approve a merge request, or comment on it.",
        "pr.comment": "Comment on a merge request (on a line when path and line are given).",
        "pr.merge": "Merge a merge request.",
        "actions.list": "List pipelines.",
        "actions.trigger": "Run a pipeline on a ref and return it.",
        "actions.status": "Status of one pipeline, with its jobs.",
        "search.code": "Search code (blobs), in one project, a group, or everywhere.",
        "search.issues": "Search issues, in one project, a group, or everywhere.",
        "webhook.register": "Register (or update) a project or group webhook delivering to the fabric.",
    }
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "base_url": {
                "type": "string",
                "pattern": "^https?://",
                "default": "https://gitlab.com/api/v4",
                "description": "API root (self-managed: https://HOST/api/v4)",
            },
            "auth_type": {
                "type": "string",
                "enum": list(auth_types),
                "default": "api_key",
                "description": "api_key (access token as PRIVATE-TOKEN), oauth2 or bearer_token",
            },
            "api_key_header": {
                "type": "string",
                "enum": ["PRIVATE-TOKEN", "JOB-TOKEN"],
                "default": "PRIVATE-TOKEN",
                "description": "Header carrying the token of auth_type api_key",
            },
            "group": {"type": "string", "description": "Default group of repo.list"},
            "per_page": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
            "authorize_url": {"type": "string", "default": "https://gitlab.com/oauth/authorize"},
            "token_url": {"type": "string", "default": "https://gitlab.com/oauth/token"},
            "revocation_url": {"type": "string", "default": "https://gitlab.com/oauth/revoke"},
            "device_authorization_url": {
                "type": "string",
                "default": "https://gitlab.com/oauth/authorize_device",
            },
            "client_id": {"type": "string", "description": "OAuth application id"},
            "scopes": {"type": "array", "items": {"type": "string"}, "default": ["api"]},
            "webhook_repos": {
                "type": "array",
                "items": {"type": "string", "pattern": "^.+/[^/]+$"},
                "description": "namespace/project list whose hooks to this instance are removed on uninstall",
            },
        },
    }

    # ------------------------------------------------------------------ plumbing
    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        resp = self.http.get(path, params=params)
        return resp.json() if resp.content else None

    def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = self.http.request(method, path, json=body)
        return resp.json() if resp.content else None

    def _list(
        self,
        path: str,
        query: dict[str, Any],
        opts: ListOptions | dict[str, Any],
        *,
        keep: Callable[[Any], bool] | None = None,
    ) -> list[Any]:
        everything = bool(opts.get("all")) or opts.get("maxItems") is not None
        q = {k: v for k, v in query.items() if v is not None}
        q["per_page"] = int(opts.get("perPage") or self.settings.get("per_page") or 20)
        q["page"] = int(opts.get("page") or 1)
        return list(
            paginate(
                self.http,
                path,
                params=q,
                keep=keep,
                max_pages=None if everything else 1,
                max_items=opts.get("maxItems"),
            )
        )

    def _mr_path(self, owner: str, repo: str, number: int) -> str:
        return f"/projects/{_project(owner, repo)}/merge_requests/{int(number)}"

    def _user_ids(self, usernames: list[str]) -> list[int]:
        ids: list[int] = []
        for name in usernames:
            found = self._get("/users", {"username": name}) or []
            if not found:
                raise NotFoundError(f"no GitLab user {name!r}", details={"field": "assignees"})
            ids.append(int(found[0]["id"]))
        return ids

    def on_health_check(self) -> dict[str, Any]:
        """``GET /user``: 401 is a revoked or expired token, 5xx an outage, 429 the rate limit."""
        try:
            self.http.get("/user")
        except AuthFailedError as exc:
            raise AuthFailedError(
                f"GitLab rejected the token (revoked, expired or wrong): {exc.message}", details=exc.details
            ) from exc
        return {"status": "healthy"}

    # ------------------------------------------------------------------ the adapter
    def list_repositories(self, opts: RepoListOptions) -> list[Repository]:
        group = opts.get("org") or self.settings.get("group")
        query: dict[str, Any] = {"search": opts.get("search"), "order_by": "last_activity_at"}
        if group:
            path = f"/groups/{quote(str(group), safe='')}/projects"
            query["include_subgroups"] = "true"
        else:
            path, query["membership"] = "/projects", "true"
        return [m.repository(p, self.include_raw) for p in self._list(path, query, opts)]

    def get_repository(self, owner: str, repo: str) -> Repository:
        return m.repository(self._get(f"/projects/{_project(owner, repo)}"), self.include_raw)

    def _default_branch(self, owner: str, repo: str) -> str:
        branch = self.get_repository(owner, repo)["defaultBranch"]
        if not branch:
            raise InvalidInputError(f"{owner}/{repo} has no default branch (an empty project?)")
        return branch

    def get_file_content(self, owner: str, repo: str, path: str, ref: str | None = None) -> FileContent:
        ref = ref or self._default_branch(owner, repo)
        file_path = quote(path.strip("/"), safe="")
        data = self._get(f"/projects/{_project(owner, repo)}/repository/files/{file_path}", {"ref": ref})
        return m.file_content(data, self.include_raw)

    def get_directory_tree(self, owner: str, repo: str, ref: str | None = None) -> list[TreeNode]:
        query = {"recursive": "true", "ref": ref or self._default_branch(owner, repo)}
        opts = {"all": True, "perPage": 100, "maxItems": MAX_TREE_ITEMS}
        found = self._list(f"/projects/{_project(owner, repo)}/repository/tree", query, opts)
        return [m.tree_node(t) for t in found]

    def list_pull_requests(self, owner: str, repo: str, opts: PRListOptions) -> list[PullRequest]:
        query = {
            "state": _MR_STATES[opts.get("state") or "open"],
            "source_branch": opts.get("head"),
            "target_branch": opts.get("base"),
        }
        found = self._list(f"/projects/{_project(owner, repo)}/merge_requests", query, opts)
        return [m.pull(mr, self.include_raw) for mr in found]

    def create_pull_request(self, owner: str, repo: str, pr: CreatePRInput) -> PullRequest:
        title = pr["title"]
        if pr.get("draft") and not title.lower().startswith(("draft:", "[draft]")):
            title = f"Draft: {title}"
        body = {
            "source_branch": pr["head"],
            "target_branch": pr["base"],
            "title": title,
            **({"description": pr["body"]} if pr.get("body") else {}),
        }
        created = self._send("POST", f"/projects/{_project(owner, repo)}/merge_requests", body)
        return m.pull(created, self.include_raw)

    def get_pull_request(self, owner: str, repo: str, number: int) -> PullRequestDetail:
        path = self._mr_path(owner, repo, number)
        mr = self._get(path)
        approvals = self._get(f"{path}/approvals") or {}
        return m.pull_detail(mr, approvals, self.include_raw)

    def review_pull_request(self, owner: str, repo: str, number: int, event: str, body: str | None) -> Review:
        """Approve (``APPROVE``), or comment. GitLab's REST API has no "request changes": such a
        review is posted as a comment and reported as ``commented``."""
        if event in ("REQUEST_CHANGES", "COMMENT") and not body:
            raise InvalidInputError(f"body: required when event is {event}", details={"field": "body"})
        path = self._mr_path(owner, repo, number)
        note: dict[str, Any] = {}
        if body:
            note = self._send("POST", f"{path}/notes", {"body": body}) or {}
        approver = ""
        if event == "APPROVE":
            approval = self._send("POST", f"{path}/approve") or {}
            approved_by = approval.get("approved_by") or []
            if approved_by:
                approver = str((approved_by[-1].get("user") or {}).get("username") or "")
        out: Review = {
            "id": str(note.get("id") or f"{number}-approval"),
            "state": "approved" if event == "APPROVE" else "commented",
            "body": body or "",
            "author": approver or str((note.get("author") or {}).get("username") or ""),
            "submittedAt": note.get("created_at"),
            "url": None,
        }
        if self.include_raw:
            out["raw"] = note
        return out

    def add_review_comment(self, owner: str, repo: str, pr_number: int, comment: ReviewComment) -> Comment:
        path = self._mr_path(owner, repo, pr_number)
        if "path" in comment or "line" in comment:
            if "path" not in comment or "line" not in comment:
                missing = "line" if "path" in comment else "path"
                raise InvalidInputError(
                    f"{missing}: a line comment needs path and line", details={"field": missing}
                )
            refs = (self._get(path) or {}).get("diff_refs") or {}
            position = {
                "position_type": "text",
                "base_sha": refs.get("base_sha"),
                "start_sha": refs.get("start_sha"),
                "head_sha": comment.get("commitId") or refs.get("head_sha"),
                "new_path": comment["path"],
                "old_path": comment["path"],
                "new_line": comment["line"],
            }
            discussion = self._send(
                "POST", f"{path}/discussions", {"body": comment["body"], "position": position}
            )
            notes = (discussion or {}).get("notes") or [{}]
            return m.comment(notes[0], self.include_raw)
        return m.comment(self._send("POST", f"{path}/notes", {"body": comment["body"]}), self.include_raw)

    def merge_pull_request(self, owner: str, repo: str, pr_number: int, opts: MergeOptions) -> MergeResult:
        method = opts.get("method") or "merge"
        if method == "rebase":
            raise InvalidInputError(
                "method: GitLab sets rebase or fast-forward merges per project; use merge (the "
                "project's merge method applies) or squash",
                details={"field": "method"},
            )
        message = "\n\n".join(x for x in (opts.get("commitTitle"), opts.get("commitMessage")) if x)
        body: dict[str, Any] = {"squash": method == "squash"}
        if message:
            body["squash_commit_message" if method == "squash" else "merge_commit_message"] = message
        if opts.get("sha"):
            body["sha"] = opts["sha"]
        merged = self._send("PUT", f"{self._mr_path(owner, repo, pr_number)}/merge", body)
        return m.merge_result(merged, self.include_raw)

    def list_issues(self, owner: str, repo: str, opts: IssueListOptions) -> list[Issue]:
        query = {
            "state": _ISSUE_STATES[opts.get("state") or "open"],
            "labels": ",".join(opts["labels"]) if opts.get("labels") else None,
            "assignee_username": opts.get("assignee"),
        }
        found = self._list(f"/projects/{_project(owner, repo)}/issues", query, opts)
        return [m.issue(i, self.include_raw) for i in found]

    def create_issue(self, owner: str, repo: str, issue: CreateIssueInput) -> Issue:
        body: dict[str, Any] = {"title": issue["title"]}
        if issue.get("body"):
            body["description"] = issue["body"]
        if issue.get("labels"):
            body["labels"] = ",".join(issue["labels"])
        if issue.get("assignees"):
            body["assignee_ids"] = self._user_ids(issue["assignees"])
        return m.issue(
            self._send("POST", f"/projects/{_project(owner, repo)}/issues", body), self.include_raw
        )

    def update_issue(self, owner: str, repo: str, number: int, update: UpdateIssueInput) -> Issue:
        body: dict[str, Any] = {}
        if "title" in update:
            body["title"] = update["title"]
        if "body" in update:
            body["description"] = update["body"]
        if "state" in update:
            body["state_event"] = "close" if update["state"] == "closed" else "reopen"
        if "labels" in update:
            body["labels"] = ",".join(update["labels"])
        if "assignees" in update:
            body["assignee_ids"] = self._user_ids(update["assignees"])
        if not body:
            raise InvalidInputError("nothing to update: give title, body, state, labels or assignees")
        path = f"/projects/{_project(owner, repo)}/issues/{int(number)}"
        return m.issue(self._send("PUT", path, body), self.include_raw)

    def list_workflow_runs(
        self, owner: str, repo: str, opts: WorkflowRunOptions | None = None
    ) -> list[WorkflowRun]:
        o: WorkflowRunOptions = opts or {}
        query = {"ref": o.get("branch"), "status": o.get("status"), "source": o.get("event")}
        found = self._list(f"/projects/{_project(owner, repo)}/pipelines", query, o)
        return [m.pipeline(p, self.include_raw) for p in found]

    def trigger_workflow(
        self, owner: str, repo: str, workflow_id: str, inputs: dict[str, str], ref: str | None = None
    ) -> WorkflowRun:
        """Run the project's pipeline on ``ref``; ``inputs`` become pipeline variables.

        GitLab answers with the new pipeline, so nothing has to be looked up afterwards.
        """
        body = {
            "ref": ref or self._default_branch(owner, repo),
            "variables": [{"key": k, "value": str(v), "variable_type": "env_var"} for k, v in inputs.items()],
        }
        created = self._send("POST", f"/projects/{_project(owner, repo)}/pipeline", body)
        return m.pipeline(created, self.include_raw)

    def get_workflow_run_status(self, owner: str, repo: str, run_id: int) -> WorkflowRunDetail:
        path = f"/projects/{_project(owner, repo)}/pipelines/{int(run_id)}"
        pipeline = self._get(path)
        jobs = self._list(f"{path}/jobs", {}, {"all": True, "perPage": 100})
        return m.pipeline_detail(pipeline, jobs, self.include_raw)

    def _search(self, scope: str, query: str, opts: SearchOptions) -> tuple[list[Any], str | None]:
        owner, repo = opts.get("owner"), opts.get("repo")
        if owner and repo:
            path, project = f"/projects/{_project(owner, repo)}/search", f"{owner}/{repo}"
        elif owner:
            path, project = f"/groups/{quote(owner, safe='')}/search", None
        else:
            path, project = "/search", None
        return self._list(path, {"scope": scope, "search": query}, opts), project

    def search_code(self, query: str, opts: SearchOptions | None = None) -> list[CodeSearchResult]:
        o: SearchOptions = opts or {}
        found, project = self._search("blobs", query, o)
        web = None
        if project:
            root = urlsplit(str(self.settings.get("base_url") or "https://gitlab.com/api/v4"))
            web = f"{root.scheme}://{root.netloc}/{project}"
        return [m.code_result(b, project, web, self.include_raw) for b in found]

    def search_issues(self, query: str, opts: SearchOptions | None = None) -> list[Issue]:
        found, _ = self._search("issues", query, opts or {})
        return [m.issue(i, self.include_raw) for i in found]

    # ------------------------------------------------------------------ repository operations
    def clone_repository(
        self, owner: str, repo: str, directory: str, ref: str | None = None, depth: int | None = None
    ) -> CloneResult:
        """Clone with ``git``: the instance's token reaches git through GIT_ASKPASS, never disk or argv."""
        resp = self.http.get(f"/projects/{_project(owner, repo)}")
        info = resp.json()
        clone_url = str(info.get("http_url_to_repo") or "")
        if not clone_url:
            raise InvalidInputError(f"{owner}/{repo} has no HTTP clone URL")
        return clone_with_git(
            clone_url,
            directory,
            credential=git_credential(resp, clone_url, username="oauth2"),
            ref=ref,
            depth=depth,
            default_ref=str(info.get("default_branch") or "") or None,
        )

    # ------------------------------------------------------------------ webhooks
    def _hooks_path(self, target: WebhookRegistration | dict[str, Any]) -> str:
        if target.get("org"):
            return f"/groups/{quote(str(target['org']), safe='')}/hooks"
        if target.get("owner") and target.get("repo"):
            return f"/projects/{_project(str(target['owner']), str(target['repo']))}/hooks"
        raise InvalidInputError(
            "give owner and repo (a project hook) or org (a group hook)", details={"field": "owner"}
        )

    def register_webhooks(self, webhooks: list[WebhookRegistration]) -> list[Webhook]:
        """The seed's registerWebhooks: create each hook, or update the one already delivering there."""
        out: list[Webhook] = []
        for reg in webhooks:
            path = self._hooks_path(reg)
            wanted = set(reg.get("events") or DEFAULT_HOOK_EVENTS)
            unknown = sorted(wanted - set(m.HOOK_EVENTS))
            if unknown:
                raise InvalidInputError(
                    f"events: GitLab has no {', '.join(unknown)} hook events "
                    f"(known: {', '.join(m.HOOK_EVENTS)})",
                    details={"field": "events"},
                )
            body: dict[str, Any] = {
                "url": reg["url"],
                "enable_ssl_verification": True,
                **{f"{name}_events": name in wanted for name in m.HOOK_EVENTS},
            }
            if reg.get("secret"):
                body["token"] = reg["secret"]
            existing = [
                h for h in self._list(path, {}, {"all": True, "perPage": 100}) if h.get("url") == reg["url"]
            ]
            if existing:
                hook = self._send("PUT", f"{path}/{int(existing[0]['id'])}", body)
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
            url = str(h.get("url") or "")
            if (url == marker) if target.get("url") else (marker in url):
                self._send("DELETE", f"{path}/{int(h['id'])}")
                removed.append(str(h["id"]))
        return removed

    def on_uninstall(self) -> None:
        """Remove this instance's hooks from every project in ``webhook_repos``."""
        for full in self.settings.get("webhook_repos") or []:
            owner, _, repo = str(full).rpartition("/")
            self.deregister_webhooks({"owner": owner, "repo": repo})


if TYPE_CHECKING:

    def _is_adapter(connector: GitLabConnector) -> SourceControlAdapter:
        return connector
