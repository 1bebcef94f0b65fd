"""The source-control adapter: one vocabulary for GitHub, GitLab and any other SCM connector.

The seed's ``ISourceControlAdapter`` lets domain logic swap GitHub for GitLab without change. Here it
is three things:

* the connector-agnostic **domain types** (``Repository``, ``PullRequest``, ``Issue``, ...) as
  ``TypedDict``s, so an action's JSON result *is* the domain object (camelCase keys, as in the seed);
* the ``SourceControlAdapter`` protocol, which SCM connector classes implement with Python names
  (``list_repositories`` for the seed's ``listRepositories``);
* the **standard actions** (``SCM_ACTIONS``: ``repo.list``, ``pr.create``, ...) with one shared
  parameter schema each (``scm_params``), and ``SourceControlActions``, which implements the protocol
  over *any* way of running an action: the gateway in-process, ``cuervo-fabric exec``, or a remote
  fabric. Domain code written against the protocol runs unchanged on every SCM connector.

Every domain object may carry the provider's own object under ``raw`` when the caller asks for it
(``-p raw=true``).

Example:
    >>> from cuervo_fabric.sdk import SourceControlActions
    >>> scm = SourceControlActions(lambda action, params: fabric.gateway.execute(  # doctest: +SKIP
    ...     "github", action, params).data)
    >>> pr = scm.create_pull_request("octo", "app", {"title": "Fix", "head": "fix", "base": "main"})
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Literal,
    NotRequired,
    Protocol,
    TypedDict,
    cast,
    runtime_checkable,
)
from urllib.parse import urlsplit

from cuervo_fabric.errors import (
    AuthFailedError,
    FabricTimeoutError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
    UpstreamError,
)
from cuervo_fabric.sdk._action import MARKER, ActionDeclaration
from cuervo_fabric.sdk._connector import BaseConnector
from cuervo_fabric.sdk._webhooks import WebhookSpec, describe_delivery

if TYPE_CHECKING:
    import httpx

__all__ = [
    "SCM_ACTIONS",
    "CloneResult",
    "CodeSearchResult",
    "Comment",
    "CreateIssueInput",
    "CreatePRInput",
    "FileContent",
    "GitCredential",
    "Issue",
    "IssueListOptions",
    "ListOptions",
    "MergeOptions",
    "MergeResult",
    "PRListOptions",
    "PullRequest",
    "PullRequestDetail",
    "RepoListOptions",
    "Repository",
    "Review",
    "ReviewComment",
    "SearchOptions",
    "SourceControlActions",
    "SourceControlAdapter",
    "SourceControlConnector",
    "TreeNode",
    "UpdateIssueInput",
    "Webhook",
    "WebhookRegistration",
    "WorkflowJob",
    "WorkflowRun",
    "WorkflowRunDetail",
    "WorkflowRunOptions",
    "clone_with_git",
    "git_credential",
    "scm_params",
]

# --------------------------------------------------------------------------- domain types


class Repository(TypedDict):
    """A repository (GitHub) or project (GitLab)."""

    id: str
    name: str
    #: ``owner/name``; on GitLab the full namespace path, e.g. ``group/subgroup/project``.
    fullName: str
    description: str | None
    url: str
    cloneUrl: str
    defaultBranch: str
    isPrivate: bool
    language: str | None
    updatedAt: str
    raw: NotRequired[dict[str, Any]]


class PullRequest(TypedDict):
    """A pull request (GitHub) or merge request (GitLab); ``number`` is the per-repository number."""

    id: str
    number: int
    title: str
    body: str
    state: Literal["open", "closed", "merged"]
    author: str
    sourceBranch: str
    targetBranch: str
    createdAt: str
    updatedAt: str
    mergedAt: str | None
    #: ``pending`` unless the provider's reviews were read (``pr.read`` reads them).
    reviewStatus: Literal["pending", "approved", "changes_requested"]
    labels: list[str]
    url: str
    draft: NotRequired[bool]
    raw: NotRequired[dict[str, Any]]


class PullRequestDetail(PullRequest):
    """One pull request with what only the single-object read returns."""

    headSha: str | None
    baseSha: str | None
    mergeable: bool | None
    additions: int | None
    deletions: int | None
    changedFiles: int | None
    reviewers: list[str]


class Issue(TypedDict):
    """An issue. Search results may include pull requests (``isPullRequest``)."""

    id: str
    number: int
    title: str
    body: str
    state: Literal["open", "closed"]
    author: str
    assignees: list[str]
    labels: list[str]
    createdAt: str
    updatedAt: str
    url: str
    isPullRequest: NotRequired[bool]
    raw: NotRequired[dict[str, Any]]


class FileContent(TypedDict):
    """A file's content: text when it decodes as UTF-8, else base64 (``encoding``)."""

    path: str
    name: str
    sha: str
    size: int
    encoding: Literal["utf-8", "base64"]
    content: str
    url: str | None
    raw: NotRequired[dict[str, Any]]


class TreeNode(TypedDict):
    """One entry of a repository tree."""

    path: str
    name: str
    type: Literal["file", "directory", "submodule", "symlink"]
    sha: str
    size: int | None
    mode: str


class ReviewComment(TypedDict):
    """A comment on a pull request: on the conversation, or on a line when ``path`` and ``line`` are set."""

    body: str
    path: NotRequired[str]
    line: NotRequired[int]
    #: The commit the line refers to (defaults to the pull request's head).
    commitId: NotRequired[str]


class Comment(TypedDict):
    """A posted comment (GitHub issue or review comment, GitLab note)."""

    id: str
    body: str
    author: str
    createdAt: str
    url: str | None
    path: str | None
    line: int | None
    raw: NotRequired[dict[str, Any]]


class Review(TypedDict):
    """A submitted review."""

    id: str
    state: Literal["approved", "changes_requested", "commented", "pending"]
    body: str
    author: str
    submittedAt: str | None
    url: str | None
    raw: NotRequired[dict[str, Any]]


class MergeResult(TypedDict):
    """The outcome of a merge."""

    merged: bool
    sha: str | None
    message: str
    raw: NotRequired[dict[str, Any]]


class WorkflowRun(TypedDict):
    """A CI run: a GitHub Actions workflow run or a GitLab pipeline.

    ``status`` is ``queued``, ``in_progress`` or ``completed``; ``conclusion`` (once completed) is
    ``success``, ``failure``, ``cancelled``, ``skipped``, ``timed_out``, ``action_required`` or
    ``neutral``.
    """

    id: str
    name: str | None
    workflowId: str | None
    status: str
    conclusion: str | None
    branch: str | None
    commit: str | None
    event: str | None
    createdAt: str
    updatedAt: str | None
    url: str | None
    raw: NotRequired[dict[str, Any]]


class WorkflowJob(TypedDict):
    """One job of a run."""

    id: str
    name: str
    status: str
    conclusion: str | None
    startedAt: str | None
    completedAt: str | None
    url: str | None


class WorkflowRunDetail(WorkflowRun):
    """A run with its jobs."""

    jobs: list[WorkflowJob]


class CodeSearchResult(TypedDict):
    """A code search hit."""

    path: str
    name: str
    repository: str
    url: str | None
    sha: str | None
    fragments: list[str]
    raw: NotRequired[dict[str, Any]]


class Webhook(TypedDict):
    """A webhook registered at the provider."""

    id: str
    url: str
    events: list[str]
    active: bool
    createdAt: str | None
    raw: NotRequired[dict[str, Any]]


class WebhookRegistration(TypedDict):
    """The seed's WebhookRegistration: where and what a provider should deliver.

    Give ``owner`` and ``repo`` for a repository hook, or ``org`` for an organisation (GitHub) or
    group (GitLab) hook.
    """

    url: str
    events: list[str]
    secret: NotRequired[str]
    owner: NotRequired[str]
    repo: NotRequired[str]
    org: NotRequired[str]


class CloneResult(TypedDict):
    """Where ``repo.clone`` put the repository and at which commit."""

    directory: str
    cloneUrl: str
    ref: str
    commit: str


# --------------------------------------------------------------------------- inputs


class ListOptions(TypedDict, total=False):
    """Paging for list actions: one page, or every page (``all``) up to ``maxItems``."""

    page: int
    perPage: int
    all: bool
    maxItems: int
    search: str
    raw: bool


class RepoListOptions(ListOptions, total=False):
    """Whose repositories ``list_repositories`` lists."""

    #: An organisation (GitLab: group) instead of the caller's own repositories.
    org: str


class PRListOptions(ListOptions, total=False):
    """Filters of ``list_pull_requests``."""

    state: Literal["open", "closed", "merged", "all"]
    head: str
    base: str


class IssueListOptions(ListOptions, total=False):
    """Filters of ``list_issues``."""

    state: Literal["open", "closed", "all"]
    labels: list[str]
    assignee: str


class WorkflowRunOptions(ListOptions, total=False):
    """Filters of ``list_workflow_runs``."""

    workflow: str
    branch: str
    status: str
    event: str


class SearchOptions(ListOptions, total=False):
    """Scope of a search: everything the credential sees, or one repository."""

    owner: str
    repo: str


class CreatePRInput(TypedDict):
    """A new pull request: from ``head`` into ``base``."""

    title: str
    head: str
    base: str
    body: NotRequired[str]
    draft: NotRequired[bool]


class MergeOptions(TypedDict, total=False):
    """How to merge."""

    method: Literal["merge", "squash", "rebase"]
    commitTitle: str
    commitMessage: str
    #: Merge only if the head is still at this commit.
    sha: str


class CreateIssueInput(TypedDict):
    """A new issue."""

    title: str
    body: NotRequired[str]
    labels: NotRequired[list[str]]
    assignees: NotRequired[list[str]]


class UpdateIssueInput(TypedDict, total=False):
    """Changes to an issue; absent keys are left as they are."""

    title: str
    body: str
    state: Literal["open", "closed"]
    labels: list[str]
    assignees: list[str]


# --------------------------------------------------------------------------- the protocol


@runtime_checkable
class SourceControlAdapter(Protocol):
    """The seed's ISourceControlAdapter: what every source-control connector offers.

    Example:
        >>> def open_fix(scm: SourceControlAdapter) -> str:
        ...     pr = scm.create_pull_request("octo", "app", {"title": "Fix", "head": "fix", "base": "main"})
        ...     scm.add_review_comment("octo", "app", pr["number"], {"body": "Ready for review"})
        ...     return pr["url"]
    """

    def list_repositories(self, opts: RepoListOptions) -> list[Repository]: ...

    def get_repository(self, owner: str, repo: str) -> Repository: ...

    def get_file_content(self, owner: str, repo: str, path: str, ref: str | None = None) -> FileContent: ...

    def get_directory_tree(self, owner: str, repo: str, ref: str | None = None) -> list[TreeNode]: ...

    def list_pull_requests(self, owner: str, repo: str, opts: PRListOptions) -> list[PullRequest]: ...

    def create_pull_request(self, owner: str, repo: str, pr: CreatePRInput) -> PullRequest: ...

    def get_pull_request(self, owner: str, repo: str, number: int) -> PullRequestDetail: ...

    def add_review_comment(
        self, owner: str, repo: str, pr_number: int, comment: ReviewComment
    ) -> Comment: ...

    def merge_pull_request(
        self, owner: str, repo: str, pr_number: int, opts: MergeOptions
    ) -> MergeResult: ...

    def list_issues(self, owner: str, repo: str, opts: IssueListOptions) -> list[Issue]: ...

    def create_issue(self, owner: str, repo: str, issue: CreateIssueInput) -> Issue: ...

    def update_issue(self, owner: str, repo: str, number: int, update: UpdateIssueInput) -> Issue: ...

    def list_workflow_runs(
        self, owner: str, repo: str, opts: WorkflowRunOptions | None = None
    ) -> list[WorkflowRun]: ...

    def trigger_workflow(
        self, owner: str, repo: str, workflow_id: str, inputs: dict[str, str], ref: str | None = None
    ) -> WorkflowRun: ...

    def get_workflow_run_status(self, owner: str, repo: str, run_id: int) -> WorkflowRunDetail: ...

    def search_code(self, query: str, opts: SearchOptions | None = None) -> list[CodeSearchResult]: ...

    def search_issues(self, query: str, opts: SearchOptions | None = None) -> list[Issue]: ...


# --------------------------------------------------------------------------- standard actions

_S: dict[str, Any] = {"type": "string", "minLength": 1}
_N: dict[str, Any] = {"type": "integer", "minimum": 1}
_STRS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
_REPO: dict[str, Any] = {
    "owner": {**_S, "description": "Owner (user, organisation, or GitLab namespace path)"},
    "repo": {**_S, "description": "Repository (GitLab: project) name"},
}
_RAW: dict[str, Any] = {
    "raw": {"type": "boolean", "default": False, "description": "Include the provider's object as `raw`"}
}
_PAGING: dict[str, Any] = {
    "page": {"type": "integer", "minimum": 1, "default": 1, "description": "First page to read"},
    "per_page": {"type": "integer", "minimum": 1, "maximum": 100, "description": "Items per page"},
    "all": {"type": "boolean", "default": False, "description": "Follow every next page"},
    "max_items": {"type": "integer", "minimum": 1, "description": "Stop after this many items"},
    **_RAW,
}


def _schema(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": required, "properties": props}


#: Action id -> (adapter method, JSON Schema of its parameters). Connectors declare these actions
#: with these parameters (they may add provider-only properties through ``scm_params``).
SCM_ACTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "repo.list": (
        "list_repositories",
        _schema(
            [],
            org={**_S, "description": "Organisation (GitLab: group) instead of the caller's own"},
            search={"type": "string", "description": "Keep repositories whose name contains this"},
            **_PAGING,
        ),
    ),
    "repo.read": ("get_repository", _schema(["owner", "repo"], **_REPO, **_RAW)),
    "repo.clone": (
        "clone_repository",
        _schema(
            ["owner", "repo", "directory"],
            directory={**_S, "description": "Where to clone (must not exist or be empty)"},
            ref={**_S, "description": "Branch or tag to check out (default: the default branch)"},
            depth={"type": "integer", "minimum": 1, "description": "Shallow clone depth"},
            **_REPO,
        ),
    ),
    "repo.file": (
        "get_file_content",
        _schema(["owner", "repo", "path"], path=_S, ref=_S, **_REPO, **_RAW),
    ),
    "repo.tree": ("get_directory_tree", _schema(["owner", "repo"], ref=_S, **_REPO)),
    "pr.list": (
        "list_pull_requests",
        _schema(
            ["owner", "repo"],
            state={"type": "string", "enum": ["open", "closed", "merged", "all"], "default": "open"},
            head={**_S, "description": "Source branch"},
            base={**_S, "description": "Target branch"},
            **_REPO,
            **_PAGING,
        ),
    ),
    "pr.read": ("get_pull_request", _schema(["owner", "repo", "number"], number=_N, **_REPO, **_RAW)),
    "pr.create": (
        "create_pull_request",
        _schema(
            ["owner", "repo", "title", "head", "base"],
            title=_S,
            head={**_S, "description": "Source branch"},
            base={**_S, "description": "Target branch"},
            body={"type": "string"},
            draft={"type": "boolean"},
            **_REPO,
            **_RAW,
        ),
    ),
    "pr.review": (
        "review_pull_request",
        _schema(
            ["owner", "repo", "number", "event"],
            number=_N,
            event={"type": "string", "enum": ["APPROVE", "REQUEST_CHANGES", "COMMENT"]},
            body={"type": "string"},
            **_REPO,
            **_RAW,
        ),
    ),
    "pr.comment": (
        "add_review_comment",
        _schema(
            ["owner", "repo", "number", "body"],
            number=_N,
            body=_S,
            path={**_S, "description": "File of a line comment"},
            line={"type": "integer", "minimum": 1, "description": "Line of a line comment"},
            commit_id={**_S, "description": "Commit of a line comment (default: the head)"},
            **_REPO,
            **_RAW,
        ),
    ),
    "pr.merge": (
        "merge_pull_request",
        _schema(
            ["owner", "repo", "number"],
            number=_N,
            method={"type": "string", "enum": ["merge", "squash", "rebase"], "default": "merge"},
            commit_title=_S,
            commit_message={"type": "string"},
            sha={**_S, "description": "Merge only if the head is at this commit"},
            **_REPO,
            **_RAW,
        ),
    ),
    "issue.list": (
        "list_issues",
        _schema(
            ["owner", "repo"],
            state={"type": "string", "enum": ["open", "closed", "all"], "default": "open"},
            labels=_STRS,
            assignee=_S,
            **_REPO,
            **_PAGING,
        ),
    ),
    "issue.create": (
        "create_issue",
        _schema(
            ["owner", "repo", "title"],
            title=_S,
            body={"type": "string"},
            labels=_STRS,
            assignees=_STRS,
            **_REPO,
            **_RAW,
        ),
    ),
    "issue.update": (
        "update_issue",
        _schema(
            ["owner", "repo", "number"],
            number=_N,
            title=_S,
            body={"type": "string"},
            state={"type": "string", "enum": ["open", "closed"]},
            labels=_STRS,
            assignees=_STRS,
            **_REPO,
            **_RAW,
        ),
    ),
    "actions.list": (
        "list_workflow_runs",
        _schema(
            ["owner", "repo"],
            workflow={**_S, "description": "Workflow id or file name (GitHub)"},
            branch=_S,
            status=_S,
            event=_S,
            **_REPO,
            **_PAGING,
        ),
    ),
    "actions.trigger": (
        "trigger_workflow",
        _schema(
            ["owner", "repo", "workflow"],
            workflow={
                **_S,
                "description": "Workflow id or file name (GitLab: ignored, the project's pipeline)",
            },
            ref={**_S, "description": "Branch or tag (default: the default branch)"},
            inputs={
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "Workflow inputs (GitLab: pipeline variables)",
            },
            **_REPO,
            **_RAW,
        ),
    ),
    "actions.status": (
        "get_workflow_run_status",
        _schema(["owner", "repo", "run_id"], run_id=_N, **_REPO, **_RAW),
    ),
    "search.code": (
        "search_code",
        _schema(["query"], query=_S, owner=_REPO["owner"], repo=_REPO["repo"], **_PAGING),
    ),
    "search.issues": (
        "search_issues",
        _schema(["query"], query=_S, owner=_REPO["owner"], repo=_REPO["repo"], **_PAGING),
    ),
    "webhook.register": (
        "register_webhooks",
        _schema(
            ["url"],
            url={**_S, "pattern": "^https?://", "description": "The receiver URL (`webhooks endpoints`)"},
            events={**_STRS, "description": "Provider event names (default: the connector's usual set)"},
            secret={**_S, "writeOnly": True, "description": "Signing secret / token (never in argv)"},
            org={**_S, "description": "Organisation (GitLab: group) hook instead of a repository hook"},
            owner=_REPO["owner"],
            repo=_REPO["repo"],
            **_RAW,
        ),
    ),
    "webhook.unregister": (
        "deregister_webhooks",
        _schema(
            [],
            url={**_S, "description": "Remove hooks delivering to this URL (default: this instance's)"},
            hook_id=_N,
            org=_S,
            owner=_REPO["owner"],
            repo=_REPO["repo"],
        ),
    ),
    "webhook.receive": (
        "receive_webhook",
        _schema(
            ["headers", "body"],
            headers={"type": "object", "additionalProperties": {"type": "string"}},
            body={"type": "string", "description": "The raw request body"},
            secret={**_S, "writeOnly": True, "description": "Verify the signature with this secret"},
        ),
    ),
}


def scm_params(action_id: str, required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """The standard parameter schema of ``action_id``, with provider-only properties added.

    Example:
        >>> schema = scm_params("pr.create", maintainer_can_modify={"type": "boolean"})
        >>> sorted(schema["required"])
        ['base', 'head', 'owner', 'repo', 'title']
    """
    base = SCM_ACTIONS[action_id][1]
    return {
        **base,
        "required": list(base["required"] if required is None else required),
        "properties": {**base["properties"], **extra},
    }


# --------------------------------------------------------------------------- over actions

#: ``run(action_id, params) -> data``: runs one action (raising a FabricError on failure).
ActionRunner = Callable[[str, dict[str, Any]], Any]


def _drop_none(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _paging(opts: ListOptions | dict[str, Any] | None) -> dict[str, Any]:
    o = dict(opts or {})
    return _drop_none(
        page=o.get("page"),
        per_page=o.get("perPage"),
        all=o.get("all"),
        max_items=o.get("maxItems"),
        raw=o.get("raw"),
    )


class SourceControlActions:
    """``SourceControlAdapter`` over the standard actions of any SCM connector instance.

    Args:
        run: runs one action and returns its ``data`` (raise on failure). It may call the gateway
            in-process, ``cuervo-fabric exec --json``, or a remote fabric.

    Example:
        >>> calls = []
        >>> scm = SourceControlActions(lambda a, p: calls.append((a, p)) or [])
        >>> scm.list_issues("octo", "app", {"state": "open"})
        []
        >>> calls
        [('issue.list', {'owner': 'octo', 'repo': 'app', 'state': 'open'})]
    """

    def __init__(self, run: ActionRunner) -> None:
        self._run = run

    def _call(self, action: str, params: dict[str, Any]) -> Any:
        return self._run(action, params)

    def list_repositories(self, opts: RepoListOptions) -> list[Repository]:
        params = {**_paging(opts), **_drop_none(search=opts.get("search"), org=opts.get("org"))}
        return cast("list[Repository]", self._call("repo.list", params))

    def get_repository(self, owner: str, repo: str) -> Repository:
        return cast(Repository, self._call("repo.read", {"owner": owner, "repo": repo}))

    def get_file_content(self, owner: str, repo: str, path: str, ref: str | None = None) -> FileContent:
        params = _drop_none(owner=owner, repo=repo, path=path, ref=ref)
        return cast(FileContent, self._call("repo.file", params))

    def get_directory_tree(self, owner: str, repo: str, ref: str | None = None) -> list[TreeNode]:
        return cast("list[TreeNode]", self._call("repo.tree", _drop_none(owner=owner, repo=repo, ref=ref)))

    def list_pull_requests(self, owner: str, repo: str, opts: PRListOptions) -> list[PullRequest]:
        params = {
            "owner": owner,
            "repo": repo,
            **_paging(opts),
            **_drop_none(state=opts.get("state"), head=opts.get("head"), base=opts.get("base")),
        }
        return cast("list[PullRequest]", self._call("pr.list", params))

    def create_pull_request(self, owner: str, repo: str, pr: CreatePRInput) -> PullRequest:
        params = {"owner": owner, "repo": repo, **pr}
        return cast(PullRequest, self._call("pr.create", params))

    def get_pull_request(self, owner: str, repo: str, number: int) -> PullRequestDetail:
        return cast(
            PullRequestDetail, self._call("pr.read", {"owner": owner, "repo": repo, "number": number})
        )

    def add_review_comment(self, owner: str, repo: str, pr_number: int, comment: ReviewComment) -> Comment:
        params = {
            "owner": owner,
            "repo": repo,
            "number": pr_number,
            **_drop_none(
                body=comment["body"],
                path=comment.get("path"),
                line=comment.get("line"),
                commit_id=comment.get("commitId"),
            ),
        }
        return cast(Comment, self._call("pr.comment", params))

    def merge_pull_request(self, owner: str, repo: str, pr_number: int, opts: MergeOptions) -> MergeResult:
        params = {
            "owner": owner,
            "repo": repo,
            "number": pr_number,
            **_drop_none(
                method=opts.get("method"),
                commit_title=opts.get("commitTitle"),
                commit_message=opts.get("commitMessage"),
                sha=opts.get("sha"),
            ),
        }
        return cast(MergeResult, self._call("pr.merge", params))

    def list_issues(self, owner: str, repo: str, opts: IssueListOptions) -> list[Issue]:
        params = {
            "owner": owner,
            "repo": repo,
            **_paging(opts),
            **_drop_none(state=opts.get("state"), labels=opts.get("labels"), assignee=opts.get("assignee")),
        }
        return cast("list[Issue]", self._call("issue.list", params))

    def create_issue(self, owner: str, repo: str, issue: CreateIssueInput) -> Issue:
        return cast(Issue, self._call("issue.create", {"owner": owner, "repo": repo, **issue}))

    def update_issue(self, owner: str, repo: str, number: int, update: UpdateIssueInput) -> Issue:
        params = {"owner": owner, "repo": repo, "number": number, **update}
        return cast(Issue, self._call("issue.update", params))

    def list_workflow_runs(
        self, owner: str, repo: str, opts: WorkflowRunOptions | None = None
    ) -> list[WorkflowRun]:
        o = opts or {}
        params = {
            "owner": owner,
            "repo": repo,
            **_paging(o),
            **_drop_none(
                workflow=o.get("workflow"),
                branch=o.get("branch"),
                status=o.get("status"),
                event=o.get("event"),
            ),
        }
        return cast("list[WorkflowRun]", self._call("actions.list", params))

    def trigger_workflow(
        self, owner: str, repo: str, workflow_id: str, inputs: dict[str, str], ref: str | None = None
    ) -> WorkflowRun:
        params = _drop_none(owner=owner, repo=repo, workflow=workflow_id, inputs=inputs, ref=ref)
        return cast(WorkflowRun, self._call("actions.trigger", params))

    def get_workflow_run_status(self, owner: str, repo: str, run_id: int) -> WorkflowRunDetail:
        params = {"owner": owner, "repo": repo, "run_id": run_id}
        return cast(WorkflowRunDetail, self._call("actions.status", params))

    def search_code(self, query: str, opts: SearchOptions | None = None) -> list[CodeSearchResult]:
        o = opts or {}
        params = {"query": query, **_paging(o), **_drop_none(owner=o.get("owner"), repo=o.get("repo"))}
        return cast("list[CodeSearchResult]", self._call("search.code", params))

    def search_issues(self, query: str, opts: SearchOptions | None = None) -> list[Issue]:
        o = opts or {}
        params = {"query": query, **_paging(o), **_drop_none(owner=o.get("owner"), repo=o.get("repo"))}
        return cast("list[Issue]", self._call("search.issues", params))


# --------------------------------------------------------------------------- the connector base

#: Action id -> (handler method, cache_ttl, weight, mutating): the standard actions' gateway
#: policy, the same on every SCM connector.
_STANDARD: dict[str, tuple[str, int, int, bool]] = {
    "repo.list": ("repo_list", 300, 1, False),
    "repo.read": ("repo_read", 300, 1, False),
    "repo.clone": ("repo_clone", 0, 1, False),
    "repo.file": ("repo_file", 60, 1, False),
    "repo.tree": ("repo_tree", 60, 1, False),
    "pr.list": ("pr_list", 60, 1, False),
    "pr.read": ("pr_read", 30, 1, False),
    "pr.create": ("pr_create", 0, 1, True),
    "pr.review": ("pr_review", 0, 1, True),
    "pr.comment": ("pr_comment", 0, 1, True),
    "pr.merge": ("pr_merge", 0, 1, True),
    "issue.list": ("issue_list", 60, 1, False),
    "issue.create": ("issue_create", 0, 1, True),
    "issue.update": ("issue_update", 0, 1, True),
    "actions.list": ("actions_list", 30, 1, False),
    "actions.trigger": ("actions_trigger", 0, 1, True),
    "actions.status": ("actions_status", 0, 1, False),
    "search.code": ("search_code_action", 60, 5, False),
    "search.issues": ("search_issues_action", 60, 5, False),
    "webhook.register": ("webhook_register", 0, 1, True),
    "webhook.unregister": ("webhook_unregister", 0, 1, True),
    "webhook.receive": ("webhook_receive", 0, 1, False),
}

#: Action id -> the default description (a connector words its own with ``action_descriptions``).
_DESCRIPTIONS: dict[str, str] = {
    "repo.list": "List the caller's repositories (or an organisation's).",
    "repo.read": "Read one repository.",
    "repo.clone": "Clone a repository with git into a directory, using the instance's credential.",
    "repo.file": "Read one file's content.",
    "repo.tree": "List every file and directory of a repository at a ref.",
    "pr.list": "List pull requests.",
    "pr.read": "Read one pull request with its review status.",
    "pr.create": "Open a pull request.",
    "pr.review": "Review a pull request: approve, request changes, or comment.",
    "pr.comment": "Comment on a pull request (on a line when path and line are given).",
    "pr.merge": "Merge a pull request.",
    "issue.list": "List issues.",
    "issue.create": "Create an issue.",
    "issue.update": "Update an issue (title, body, state, labels, assignees).",
    "actions.list": "List workflow runs of a repository (or of one workflow).",
    "actions.trigger": "Dispatch a workflow and return the run it started.",
    "actions.status": "Status of one workflow run, with its jobs.",
    "search.code": "Search code (optionally in one repository).",
    "search.issues": "Search issues and pull requests (optionally in one repository).",
    "webhook.register": "Register (or update) a repository or organisation webhook delivering to the fabric.",
    "webhook.unregister": "Remove this instance's webhooks (or one hook, or those delivering to a URL).",
    "webhook.receive": (
        "Verify and route one delivery (the receiver of `cuervo-fabric serve` does this for real)."
    ),
}

#: The adapter methods the standard handlers call: a concrete connector must define every one.
_ADAPTER_METHODS = tuple(name for name, _ in SCM_ACTIONS.values() if name != "receive_webhook")


class _Implementation(SourceControlAdapter, Protocol):
    """The adapter plus the methods behind the standard actions outside the seed's interface."""

    def review_pull_request(
        self, owner: str, repo: str, number: int, event: str, body: str | None
    ) -> Review: ...

    def clone_repository(
        self, owner: str, repo: str, directory: str, ref: str | None = None, depth: int | None = None
    ) -> CloneResult: ...

    def register_webhooks(self, webhooks: list[WebhookRegistration]) -> list[Webhook]: ...

    def deregister_webhooks(self, target: dict[str, Any]) -> list[str]: ...


def _declared_with_action(cls: type) -> set[str]:
    """Action ids declared by ``@action`` methods anywhere in ``cls``'s MRO."""
    return {
        decl.id
        for klass in cls.__mro__
        for value in vars(klass).values()
        if isinstance(decl := getattr(value, MARKER, None), ActionDeclaration)
    }


class SourceControlConnector(BaseConnector):
    """Base class of an SCM connector: the standard actions, declared once, over your adapter.

    Subclass it instead of ``BaseConnector`` and implement the ``SourceControlAdapter`` methods
    (plus ``review_pull_request``, ``clone_repository``, ``register_webhooks`` and
    ``deregister_webhooks``) with the provider's HTTP calls. Every action of ``SCM_ACTIONS`` is then
    declared with the shared parameter schema and gateway policy (cache TTLs, search weight 5,
    mutating writes), and its handler translates the parameters into the adapter call. What differs
    between providers is said with class attributes:

    Attributes:
        read_scopes: provider scopes of the read actions.
        write_scopes: provider scopes of the mutating actions.
        action_scopes: scopes of particular actions, overriding the two above.
        action_params: provider-only parameter properties of particular actions (they are added to
            the shared schema, and reach the adapter method in its input where the action has one).
        action_descriptions: the provider's wording of particular actions' descriptions.
        webhook: the ``WebhookSpec`` that ``webhook.receive`` runs.
        include_raw: whether the adapter methods add the provider's object as ``raw`` (each handler
            sets it from the ``raw`` parameter).

    A connector replaces a standard action by overriding its handler method (``pr_create``, ...) or
    by declaring the id itself with ``@action``; it adds provider-only actions with ``@action``.

    Example:
        >>> from cuervo_fabric.sdk import ConnectorCategory, ConnectorMetadata, SourceControlConnector
        >>> class Forge(SourceControlConnector):  # doctest: +SKIP
        ...     id = "forge"
        ...     version = "1.0.0"
        ...     metadata = ConnectorMetadata(name="Forge", description="Forge SCM",
        ...                                  category=ConnectorCategory.SOURCE_CONTROL, vendor="Forge")
        ...     read_scopes, write_scopes = ("read",), ("write",)
        ...     action_params = {"pr.create": {"squash": {"type": "boolean"}}}
        ...
        ...     def get_repository(self, owner: str, repo: str) -> Repository:
        ...         return to_repository(self.http.get(f"/repos/{owner}/{repo}").json())
        ...     ...  # the other adapter methods
        >>> Forge.spec().capability("pr.create").required_scopes  # doctest: +SKIP
        ('write',)
    """

    read_scopes: ClassVar[tuple[str, ...]] = ()
    write_scopes: ClassVar[tuple[str, ...]] = ()
    action_scopes: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    action_params: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    action_descriptions: ClassVar[Mapping[str, str]] = {}
    webhook: ClassVar[WebhookSpec]
    include_raw: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "id" not in vars(cls):
            return
        missing = [name for name in _ADAPTER_METHODS if not callable(getattr(cls, name, None))]
        if missing:
            raise TypeError(f"{cls.__name__} does not implement {', '.join(missing)} of the SCM adapter")
        unknown = sorted({*cls.action_scopes, *cls.action_params, *cls.action_descriptions} - set(_STANDARD))
        if unknown:
            raise TypeError(f"{cls.__name__}: {', '.join(unknown)} are not standard SCM actions")

    @classmethod
    def actions(cls) -> list[ActionDeclaration]:
        """The standard SCM actions, with this connector's scopes, extra parameters and wording.

        An id the connector declares itself with ``@action`` is left to that declaration. A
        subclass that overrides this to add generated actions should extend ``super().actions()``.

        Example:
            >>> from cuervo_fabric_gitlab.connector import GitLabConnector
            >>> [d.scopes for d in GitLabConnector.actions() if d.id in ("repo.read", "pr.merge")]
            [('read_api',), ('api',)]
        """
        own = _declared_with_action(cls)
        out: list[ActionDeclaration] = []
        for action_id, (handler, cache_ttl, weight, mutating) in _STANDARD.items():
            if action_id in own:
                continue
            default = cls.write_scopes if mutating else cls.read_scopes
            out.append(
                ActionDeclaration(
                    action_id,
                    description=cls.action_descriptions.get(action_id, _DESCRIPTIONS[action_id]),
                    cache_ttl=cache_ttl,
                    weight=weight,
                    mutating=mutating,
                    params=scm_params(action_id, **cls.action_params.get(action_id, {})),
                    scopes=cls.action_scopes.get(action_id, default),
                    handler=handler,
                )
            )
        return out

    # ------------------------------------------------------------------ parameter translation
    def _adapter(self, params: dict[str, Any]) -> _Implementation:
        """The adapter, after taking the ``raw`` parameter."""
        self.include_raw = bool(params.get("raw"))
        return cast(_Implementation, self)

    def _list_options(self, params: dict[str, Any], *keys: str) -> dict[str, Any]:
        """Paging parameters (and the filters ``keys``) as adapter ``ListOptions``."""
        self.include_raw = bool(params.get("raw"))
        opts: dict[str, Any] = {"page": params.get("page") or 1}
        for key, option in (("per_page", "perPage"), ("all", "all"), ("max_items", "maxItems")):
            if params.get(key):
                opts[option] = params[key]
        opts.update({k: params[k] for k in keys if params.get(k)})
        return opts

    @staticmethod
    def _fields(params: dict[str, Any], *dropped: str) -> dict[str, Any]:
        """The parameters that make up an adapter input (provider-only ones included)."""
        return {k: v for k, v in params.items() if k not in ("owner", "repo", "raw", *dropped)}

    # ------------------------------------------------------------------ the standard handlers
    def repo_list(self, params: dict[str, Any]) -> list[Repository]:
        """``repo.list``: ``list_repositories``."""
        opts = self._list_options(params, "org", "search")
        return self._adapter(params).list_repositories(cast(RepoListOptions, opts))

    def repo_read(self, params: dict[str, Any]) -> Repository:
        """``repo.read``: ``get_repository``."""
        return self._adapter(params).get_repository(params["owner"], params["repo"])

    def repo_clone(self, params: dict[str, Any]) -> CloneResult:
        """``repo.clone``: ``clone_repository``."""
        return cast(_Implementation, self).clone_repository(
            params["owner"], params["repo"], params["directory"], params.get("ref"), params.get("depth")
        )

    def repo_file(self, params: dict[str, Any]) -> FileContent:
        """``repo.file``: ``get_file_content``."""
        adapter = self._adapter(params)
        return adapter.get_file_content(params["owner"], params["repo"], params["path"], params.get("ref"))

    def repo_tree(self, params: dict[str, Any]) -> list[TreeNode]:
        """``repo.tree``: ``get_directory_tree``."""
        return cast(_Implementation, self).get_directory_tree(
            params["owner"], params["repo"], params.get("ref")
        )

    def pr_list(self, params: dict[str, Any]) -> list[PullRequest]:
        """``pr.list``: ``list_pull_requests``."""
        opts = self._list_options(params, "state", "head", "base")
        return self._adapter(params).list_pull_requests(
            params["owner"], params["repo"], cast(PRListOptions, opts)
        )

    def pr_read(self, params: dict[str, Any]) -> PullRequestDetail:
        """``pr.read``: ``get_pull_request``."""
        return self._adapter(params).get_pull_request(params["owner"], params["repo"], params["number"])

    def pr_create(self, params: dict[str, Any]) -> PullRequest:
        """``pr.create``: ``create_pull_request`` (provider-only parameters in the input)."""
        pr = cast(CreatePRInput, self._fields(params))
        return self._adapter(params).create_pull_request(params["owner"], params["repo"], pr)

    def pr_review(self, params: dict[str, Any]) -> Review:
        """``pr.review``: ``review_pull_request``."""
        return self._adapter(params).review_pull_request(
            params["owner"], params["repo"], params["number"], params["event"], params.get("body")
        )

    def pr_comment(self, params: dict[str, Any]) -> Comment:
        """``pr.comment``: ``add_review_comment``."""
        comment: dict[str, Any] = {"body": params["body"]}
        for key, field in (("path", "path"), ("line", "line"), ("commit_id", "commitId")):
            if key in params:
                comment[field] = params[key]
        return self._adapter(params).add_review_comment(
            params["owner"], params["repo"], params["number"], cast(ReviewComment, comment)
        )

    def pr_merge(self, params: dict[str, Any]) -> MergeResult:
        """``pr.merge``: ``merge_pull_request``."""
        renamed = (("method", "method"), ("commit_title", "commitTitle"), ("commit_message", "commitMessage"))
        opts = {field: params[key] for key, field in (*renamed, ("sha", "sha")) if key in params}
        return self._adapter(params).merge_pull_request(
            params["owner"], params["repo"], params["number"], cast(MergeOptions, opts)
        )

    def issue_list(self, params: dict[str, Any]) -> list[Issue]:
        """``issue.list``: ``list_issues``."""
        opts = self._list_options(params, "state", "labels", "assignee")
        return self._adapter(params).list_issues(
            params["owner"], params["repo"], cast(IssueListOptions, opts)
        )

    def issue_create(self, params: dict[str, Any]) -> Issue:
        """``issue.create``: ``create_issue``."""
        issue = cast(CreateIssueInput, self._fields(params))
        return self._adapter(params).create_issue(params["owner"], params["repo"], issue)

    def issue_update(self, params: dict[str, Any]) -> Issue:
        """``issue.update``: ``update_issue``."""
        update = cast(UpdateIssueInput, self._fields(params, "number"))
        return self._adapter(params).update_issue(params["owner"], params["repo"], params["number"], update)

    def actions_list(self, params: dict[str, Any]) -> list[WorkflowRun]:
        """``actions.list``: ``list_workflow_runs``."""
        opts = self._list_options(params, "workflow", "branch", "status", "event")
        adapter = self._adapter(params)
        return adapter.list_workflow_runs(params["owner"], params["repo"], cast(WorkflowRunOptions, opts))

    def actions_trigger(self, params: dict[str, Any]) -> WorkflowRun:
        """``actions.trigger``: ``trigger_workflow``."""
        return self._adapter(params).trigger_workflow(
            params["owner"], params["repo"], params["workflow"], params.get("inputs") or {}, params.get("ref")
        )

    def actions_status(self, params: dict[str, Any]) -> WorkflowRunDetail:
        """``actions.status``: ``get_workflow_run_status``."""
        return self._adapter(params).get_workflow_run_status(
            params["owner"], params["repo"], params["run_id"]
        )

    def search_code_action(self, params: dict[str, Any]) -> list[CodeSearchResult]:
        """``search.code``: ``search_code``."""
        opts = self._list_options(params, "owner", "repo")
        return self._adapter(params).search_code(params["query"], cast(SearchOptions, opts))

    def search_issues_action(self, params: dict[str, Any]) -> list[Issue]:
        """``search.issues``: ``search_issues``."""
        opts = self._list_options(params, "owner", "repo")
        return self._adapter(params).search_issues(params["query"], cast(SearchOptions, opts))

    def webhook_register(self, params: dict[str, Any]) -> Webhook:
        """``webhook.register``: ``register_webhooks`` with one registration."""
        reg = {k: v for k, v in params.items() if k != "raw"}
        return self._adapter(params).register_webhooks([cast(WebhookRegistration, reg)])[0]

    def webhook_unregister(self, params: dict[str, Any]) -> dict[str, Any]:
        """``webhook.unregister``: ``deregister_webhooks``."""
        return {"removed": cast(_Implementation, self).deregister_webhooks(params)}

    def webhook_receive(self, params: dict[str, Any]) -> dict[str, Any]:
        """``webhook.receive``: ``describe_delivery`` over the connector's ``webhook``."""
        spec = getattr(type(self), "webhook", None)
        if not isinstance(spec, WebhookSpec):
            raise InvalidStateError(f"{self.id} declares no webhook = WebhookSpec(...)")
        return describe_delivery(spec, params)


# --------------------------------------------------------------------------- git


#: ``(username, password)`` that git offers when the server asks.
GitCredential = tuple[str, str]

_USER_VAR = "CUERVO_FABRIC_GIT_USERNAME"
_PASS_VAR = "CUERVO_FABRIC_GIT_PASSWORD"  # noqa: S105 - the name of a variable, not a secret

#: GIT_ASKPASS program: git runs it with the prompt as argument and reads one line. The secret is
#: only in the environment of the git process; the script itself holds none.
_ASKPASS = f"""#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "${_USER_VAR}" ;;
  *) printf '%s\\n' "${_PASS_VAR}" ;;
esac
"""

#: Environment variables that would point git at another repository or another prompt.
_GIT_ENV_DROPPED = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "GIT_TERMINAL_PROMPT",
    "GIT_ALLOW_PROTOCOL",
    _USER_VAR,
    _PASS_VAR,
)


def git_credential(resp: httpx.Response, clone_url: str, *, username: str) -> GitCredential | None:
    """The credential the gateway put on ``resp``'s request, for git to present to ``clone_url``.

    A connector never sees the instance's secret directly; the gateway applies it to each request.
    For ``git`` (which speaks HTTP itself) the token is taken from the request the gateway just sent
    to the API, and offered only to the same host (or ``HOST`` for an API at ``api.HOST``), over
    HTTPS unless the API itself is plain HTTP.

    Args:
        resp: a response to an API request sent through ``self.http``.
        clone_url: the repository's HTTPS clone URL.
        username: what git sends as the user name (GitHub ``x-access-token``, GitLab ``oauth2``).

    Returns:
        ``(username, token)``, or ``None`` when there is no bearer token or the host differs.

    Example:
        >>> resp = self.http.get("/repos/octo/app")  # doctest: +SKIP
        >>> git_credential(resp, resp.json()["clone_url"], username="x-access-token")  # doctest: +SKIP
    """
    req = resp.request
    scheme, _, value = req.headers.get("authorization", "").partition(" ")
    token = value.strip() if scheme.lower() in ("bearer", "token") else ""
    token = token or req.headers.get("private-token", "").strip()
    if not token:
        return None
    api, target = urlsplit(str(req.url)), urlsplit(clone_url)
    api_host, host = (api.hostname or "").lower(), (target.hostname or "").lower()
    if not host or (host != api_host and api_host != f"api.{host}"):
        return None
    if target.scheme != "https" and not (target.scheme == "http" and api.scheme == "http"):
        return None
    return (username, token)


def _git_error(stderr: str, clone_url: str, ref: str | None) -> Exception:
    text = stderr.strip().splitlines()
    message = " ".join(line.strip() for line in text[-3:])[:400] or "git clone failed"
    lowered = message.lower()
    if "authentication failed" in lowered or "could not read username" in lowered or " 401" in lowered:
        return AuthFailedError(f"git could not authenticate to {urlsplit(clone_url).netloc}: {message}")
    if "remote branch" in lowered and "not found" in lowered:
        return NotFoundError(f"no branch or tag {ref!r}: {message}", details={"field": "ref"})
    if "not found" in lowered or " 404" in lowered:
        return NotFoundError(f"git found no repository at {clone_url}: {message}")
    return UpstreamError(f"git clone failed: {message}", details={"cloneUrl": clone_url})


def _empty(path: Path) -> None:
    import shutil

    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def clone_with_git(
    clone_url: str,
    directory: str,
    *,
    credential: GitCredential | None = None,
    ref: str | None = None,
    depth: int | None = None,
    default_ref: str | None = None,
    timeout_s: float = 600.0,
) -> CloneResult:
    """Clone ``clone_url`` into ``directory`` with the ``git`` program.

    The credential reaches git through a ``GIT_ASKPASS`` program that reads it from an environment
    variable of the git process only: it is never written to disk, never in argv, and never stored
    by a credential helper (``credential.helper`` is reset for the call). The remote URL recorded
    in ``.git/config`` carries no credential. Only ``https`` (and ``http``) URLs are cloned.

    Args:
        clone_url: the repository's HTTP(S) clone URL.
        directory: where to clone; it must not exist, or be an empty directory.
        credential: ``(username, token)`` offered when the server asks (see ``git_credential``).
        ref: a branch or tag to check out.
        depth: make a shallow clone of this many commits.
        default_ref: the branch reported when ``ref`` is not given.
        timeout_s: give up (``TIMEOUT``) after this long.

    Returns:
        The directory, URL, ref and commit checked out.

    Example:
        >>> clone_with_git("https://github.com/octo/app.git", "/tmp/app",  # doctest: +SKIP
        ...                credential=("x-access-token", token), depth=1)
    """
    import shutil
    import subprocess
    import tempfile

    git = shutil.which("git")
    if git is None:
        raise InvalidStateError("git is not installed (repo.clone runs the git program)")
    scheme = urlsplit(clone_url).scheme.lower()
    if scheme not in ("https", "http"):
        raise InvalidInputError(f"refusing to clone a {scheme or 'relative'} URL: {clone_url}")
    if ref is not None and (not ref or ref.startswith("-")):
        raise InvalidInputError(f"invalid ref {ref!r}", details={"field": "ref"})
    target = Path(directory).expanduser()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidInputError(
            f"{target} exists and is not an empty directory", details={"field": "directory"}
        )
    created = not target.exists()
    argv = [git, "-c", "credential.helper=", "clone", "--quiet"]
    if depth:
        argv += ["--depth", str(int(depth))]
    if ref:
        argv += ["--branch", ref]
    argv += ["--", clone_url, str(target)]
    with tempfile.TemporaryDirectory(prefix="cuervo-git-") as tmp:
        askpass = Path(tmp) / "askpass.sh"
        askpass.write_text(_ASKPASS)
        askpass.chmod(0o700)
        env = {k: v for k, v in os.environ.items() if k not in _GIT_ENV_DROPPED}
        env.update(GIT_ASKPASS=str(askpass), GIT_TERMINAL_PROMPT="0", GIT_ALLOW_PROTOCOL=scheme)
        if credential is not None:
            env[_USER_VAR], env[_PASS_VAR] = credential
        try:
            done = subprocess.run(  # noqa: S603 - fixed argv, no shell, no secret in it
                argv, env=env, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired as exc:
            _cleanup(target, created)
            raise FabricTimeoutError(f"git clone did not finish within {timeout_s:g} s") from exc
    if done.returncode != 0:
        _cleanup(target, created)
        stderr = done.stderr.replace(credential[1], "[REDACTED]") if credential else done.stderr
        raise _git_error(stderr, clone_url, ref)
    head = subprocess.run(  # noqa: S603 - fixed argv
        [git, "-C", str(target), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    branch = ref or default_ref
    if not branch:
        name = subprocess.run(  # noqa: S603 - fixed argv
            [git, "-C", str(target), "rev-parse", "--abbrev-ref", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        )
        branch = name.stdout.strip()
    return {
        "directory": str(target.resolve()),
        "cloneUrl": clone_url,
        "ref": branch,
        "commit": head.stdout.strip(),
    }


def _cleanup(target: Path, created: bool) -> None:
    import shutil

    if created:
        shutil.rmtree(target, ignore_errors=True)
    elif target.exists():
        _empty(target)
