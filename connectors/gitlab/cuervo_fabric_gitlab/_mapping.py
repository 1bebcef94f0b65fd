"""GitLab REST (v4) objects -> the connector-agnostic source-control types.

GitLab's words become the adapter's: a project is a ``Repository``, a merge request a
``PullRequest`` (its ``iid`` is the ``number``), ``opened`` is ``open``, a pipeline a
``WorkflowRun``. Lenient like the GitHub mappers: missing optional fields become ``None``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal, TypeVar, cast

from cuervo_fabric.sdk import (
    CodeSearchResult,
    Comment,
    FileContent,
    Issue,
    MergeResult,
    PullRequest,
    PullRequestDetail,
    Repository,
    TreeNode,
    Webhook,
    WorkflowJob,
    WorkflowRun,
    WorkflowRunDetail,
)

__all__ = [
    "HOOK_EVENTS",
    "code_result",
    "comment",
    "file_content",
    "issue",
    "merge_result",
    "pipeline",
    "pipeline_detail",
    "pull",
    "pull_detail",
    "repository",
    "run_state",
    "tree_node",
    "webhook",
]

T = TypeVar("T")

#: Hook event flags GitLab knows (``<name>_events`` on a hook).
HOOK_EVENTS = (
    "push",
    "tag_push",
    "issues",
    "confidential_issues",
    "note",
    "confidential_note",
    "merge_requests",
    "job",
    "pipeline",
    "wiki_page",
    "deployment",
    "releases",
)


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _user(obj: Any) -> str:
    return _s(obj.get("username")) if isinstance(obj, dict) else ""


def _labels(obj: dict[str, Any]) -> list[str]:
    return [str(lab.get("name") if isinstance(lab, dict) else lab) for lab in obj.get("labels") or [] if lab]


def _with_raw(mapped: T, obj: dict[str, Any], raw: bool) -> T:
    if raw:
        cast("dict[str, Any]", mapped)["raw"] = obj
    return mapped


def repository(p: dict[str, Any], raw: bool = False) -> Repository:
    out: Repository = {
        "id": _s(p.get("id")),
        "name": _s(p.get("path") or p.get("name")),
        "fullName": _s(p.get("path_with_namespace")),
        "description": _opt(p.get("description")),
        "url": _s(p.get("web_url")),
        "cloneUrl": _s(p.get("http_url_to_repo")),
        "defaultBranch": _s(p.get("default_branch")),
        "isPrivate": p.get("visibility", "private") != "public",
        "language": None,
        "updatedAt": _s(p.get("updated_at") or p.get("last_activity_at") or p.get("created_at")),
    }
    return _with_raw(out, p, raw)


def _mr_state(mr: dict[str, Any]) -> Literal["open", "closed", "merged"]:
    state = mr.get("state")
    if state == "merged":
        return "merged"
    return "open" if state == "opened" else "closed"


def pull(mr: dict[str, Any], raw: bool = False) -> PullRequest:
    out: PullRequest = {
        "id": _s(mr.get("id")),
        "number": int(mr.get("iid") or 0),
        "title": _s(mr.get("title")),
        "body": _s(mr.get("description")),
        "state": _mr_state(mr),
        "author": _user(mr.get("author")),
        "sourceBranch": _s(mr.get("source_branch")),
        "targetBranch": _s(mr.get("target_branch")),
        "createdAt": _s(mr.get("created_at")),
        "updatedAt": _s(mr.get("updated_at")),
        "mergedAt": _opt(mr.get("merged_at")),
        "reviewStatus": "pending",
        "labels": _labels(mr),
        "url": _s(mr.get("web_url")),
        "draft": bool(mr.get("draft") or mr.get("work_in_progress")),
    }
    return _with_raw(out, mr, raw)


def _count(value: Any) -> int | None:
    text = _s(value).rstrip("+")
    return int(text) if text.isdigit() else None


def pull_detail(mr: dict[str, Any], approvals: dict[str, Any], raw: bool = False) -> PullRequestDetail:
    refs = mr.get("diff_refs") or {}
    status = mr.get("detailed_merge_status") or mr.get("merge_status")
    mergeable: bool | None = None
    if status in ("mergeable", "can_be_merged"):
        mergeable = True
    elif status in ("cannot_be_merged", "conflict", "broken_status", "need_rebase"):
        mergeable = False
    reviewers = [_user(r) for r in mr.get("reviewers") or [] if isinstance(r, dict)]
    approved = bool(approvals.get("approved")) and bool(approvals.get("approved_by"))
    return {
        **pull(mr, raw),
        "reviewStatus": "approved" if approved else "pending",
        "headSha": _opt(refs.get("head_sha") or mr.get("sha")),
        "baseSha": _opt(refs.get("base_sha")),
        "mergeable": mergeable,
        "additions": None,
        "deletions": None,
        "changedFiles": _count(mr.get("changes_count")),
        "reviewers": reviewers,
    }


def issue(i: dict[str, Any], raw: bool = False) -> Issue:
    out: Issue = {
        "id": _s(i.get("id")),
        "number": int(i.get("iid") or 0),
        "title": _s(i.get("title")),
        "body": _s(i.get("description")),
        "state": "closed" if i.get("state") == "closed" else "open",
        "author": _user(i.get("author")),
        "assignees": [_user(a) for a in i.get("assignees") or [] if isinstance(a, dict)],
        "labels": _labels(i),
        "createdAt": _s(i.get("created_at")),
        "updatedAt": _s(i.get("updated_at")),
        "url": _s(i.get("web_url")),
    }
    return _with_raw(out, i, raw)


def comment(note: dict[str, Any], raw: bool = False) -> Comment:
    position = note.get("position") or {}
    line = position.get("new_line")
    out: Comment = {
        "id": _s(note.get("id")),
        "body": _s(note.get("body")),
        "author": _user(note.get("author")),
        "createdAt": _s(note.get("created_at")),
        "url": None,
        "path": _opt(position.get("new_path")),
        "line": line if isinstance(line, int) else None,
    }
    return _with_raw(out, note, raw)


def merge_result(mr: dict[str, Any], raw: bool = False) -> MergeResult:
    merged = mr.get("state") == "merged"
    out: MergeResult = {
        "merged": merged,
        "sha": _opt(
            mr.get("merge_commit_sha") or mr.get("squash_commit_sha") or (mr.get("sha") if merged else None)
        ),
        "message": "Merge request merged" if merged else _s(mr.get("merge_error") or mr.get("state")),
    }
    return _with_raw(out, mr, raw)


def file_content(f: dict[str, Any], raw: bool = False) -> FileContent:
    content = _s(f.get("content"))
    encoding: Literal["utf-8", "base64"] = "utf-8"
    if f.get("encoding") == "base64":
        try:
            content = base64.b64decode(content).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            encoding = "base64"
    out: FileContent = {
        "path": _s(f.get("file_path")),
        "name": _s(f.get("file_name")),
        "sha": _s(f.get("blob_id")),
        "size": int(f.get("size") or 0),
        "encoding": encoding,
        "content": content,
        "url": None,
    }
    return _with_raw(out, f, raw)


_TREE_TYPES: dict[str, Literal["file", "directory", "submodule", "symlink"]] = {
    "blob": "file",
    "tree": "directory",
    "commit": "submodule",
}


def tree_node(t: dict[str, Any]) -> TreeNode:
    mode = _s(t.get("mode"))
    path = _s(t.get("path"))
    return {
        "path": path,
        "name": _s(t.get("name")) or path.rsplit("/", 1)[-1],
        "type": "symlink" if mode == "120000" else _TREE_TYPES.get(str(t.get("type")), "file"),
        "sha": _s(t.get("id")),
        "size": None,
        "mode": mode,
    }


_CONCLUSIONS = {"success": "success", "failed": "failure", "canceled": "cancelled", "skipped": "skipped"}
_RUNNING = {"running"}


def run_state(status: Any) -> tuple[str, str | None]:
    """GitLab's pipeline/job status -> the adapter's ``(status, conclusion)``."""
    s = _s(status)
    if s in _CONCLUSIONS:
        return "completed", _CONCLUSIONS[s]
    if s in _RUNNING:
        return "in_progress", None
    return "queued", None


def pipeline(p: dict[str, Any], raw: bool = False) -> WorkflowRun:
    status, conclusion = run_state(p.get("status"))
    out: WorkflowRun = {
        "id": _s(p.get("id")),
        "name": _opt(p.get("name")),
        "workflowId": None,
        "status": status,
        "conclusion": conclusion,
        "branch": _opt(p.get("ref")),
        "commit": _opt(p.get("sha")),
        "event": _opt(p.get("source")),
        "createdAt": _s(p.get("created_at")),
        "updatedAt": _opt(p.get("updated_at")),
        "url": _opt(p.get("web_url")),
    }
    return _with_raw(out, p, raw)


def _job(j: dict[str, Any]) -> WorkflowJob:
    status, conclusion = run_state(j.get("status"))
    return {
        "id": _s(j.get("id")),
        "name": _s(j.get("name")),
        "status": status,
        "conclusion": conclusion,
        "startedAt": _opt(j.get("started_at")),
        "completedAt": _opt(j.get("finished_at")),
        "url": _opt(j.get("web_url")),
    }


def pipeline_detail(p: dict[str, Any], jobs: list[dict[str, Any]], raw: bool = False) -> WorkflowRunDetail:
    return {**pipeline(p, raw), "jobs": [_job(j) for j in jobs]}


def code_result(
    blob: dict[str, Any], project: str | None, web_url: str | None, raw: bool = False
) -> CodeSearchResult:
    path = _s(blob.get("path") or blob.get("filename"))
    ref = _s(blob.get("ref"))
    out: CodeSearchResult = {
        "path": path,
        "name": _s(blob.get("basename") or path.rsplit("/", 1)[-1]),
        "repository": project or _s(blob.get("project_id")),
        "url": f"{web_url}/-/blob/{ref}/{path}" if web_url and ref else None,
        "sha": _opt(blob.get("id")),
        "fragments": [_s(blob.get("data"))] if blob.get("data") else [],
    }
    return _with_raw(out, blob, raw)


def webhook(h: dict[str, Any], raw: bool = False) -> Webhook:
    out: Webhook = {
        "id": _s(h.get("id")),
        "url": _s(h.get("url")),
        "events": [name for name in HOOK_EVENTS if h.get(f"{name}_events") is True],
        "active": h.get("alert_status", "executable") == "executable" and not h.get("disabled_until"),
        "createdAt": _opt(h.get("created_at")),
    }
    return _with_raw(out, h, raw)
