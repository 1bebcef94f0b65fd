"""GitHub REST objects -> the connector-agnostic source-control types.

Every mapper is lenient: GitHub's objects gain fields over time and its recorded examples miss
some, so a missing optional field becomes ``None`` (or ``""``/``[]`` where the type says a string
or list), never an error. ``raw=True`` keeps GitHub's object under ``raw``.
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
    Review,
    TreeNode,
    Webhook,
    WorkflowJob,
    WorkflowRun,
    WorkflowRunDetail,
)

__all__ = [
    "code_result",
    "comment",
    "file_content",
    "issue",
    "job",
    "merge_result",
    "pull",
    "pull_detail",
    "repository",
    "review",
    "review_status",
    "tree_node",
    "webhook",
    "workflow_run",
    "workflow_run_detail",
]

T = TypeVar("T")


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _login(obj: Any) -> str:
    return _s((obj or {}).get("login")) if isinstance(obj, dict) else ""


def _labels(obj: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for lab in obj.get("labels") or []:
        name = lab.get("name") if isinstance(lab, dict) else lab
        if name:
            out.append(str(name))
    return out


def _with_raw(mapped: T, obj: dict[str, Any], raw: bool) -> T:
    if raw:
        cast("dict[str, Any]", mapped)["raw"] = obj
    return mapped


def repository(r: dict[str, Any], raw: bool = False) -> Repository:
    out: Repository = {
        "id": _s(r.get("id")),
        "name": _s(r.get("name")),
        "fullName": _s(r.get("full_name")),
        "description": _opt(r.get("description")),
        "url": _s(r.get("html_url")),
        "cloneUrl": _s(r.get("clone_url")),
        "defaultBranch": _s(r.get("default_branch")),
        "isPrivate": bool(r.get("private")),
        "language": _opt(r.get("language")),
        "updatedAt": _s(r.get("updated_at") or r.get("pushed_at") or r.get("created_at")),
    }
    return _with_raw(out, r, raw)


def _pr_state(p: dict[str, Any]) -> Literal["open", "closed", "merged"]:
    if p.get("merged_at") or p.get("merged") is True:
        return "merged"
    return "closed" if p.get("state") == "closed" else "open"


def pull(p: dict[str, Any], raw: bool = False) -> PullRequest:
    out: PullRequest = {
        "id": _s(p.get("id")),
        "number": int(p.get("number") or 0),
        "title": _s(p.get("title")),
        "body": _s(p.get("body")),
        "state": _pr_state(p),
        "author": _login(p.get("user")),
        "sourceBranch": _s((p.get("head") or {}).get("ref")),
        "targetBranch": _s((p.get("base") or {}).get("ref")),
        "createdAt": _s(p.get("created_at")),
        "updatedAt": _s(p.get("updated_at")),
        "mergedAt": _opt(p.get("merged_at")),
        "reviewStatus": "pending",
        "labels": _labels(p),
        "url": _s(p.get("html_url")),
        "draft": bool(p.get("draft")),
    }
    return _with_raw(out, p, raw)


def review_status(reviews: list[dict[str, Any]]) -> Literal["pending", "approved", "changes_requested"]:
    """The pull request's review status from its reviews: each reviewer's latest decision counts."""
    latest: dict[str, str] = {}
    for rv in reviews:
        state = str(rv.get("state") or "")
        if state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[_login(rv.get("user")) or str(rv.get("id"))] = state
    decisions = set(latest.values())
    if "CHANGES_REQUESTED" in decisions:
        return "changes_requested"
    if "APPROVED" in decisions:
        return "approved"
    return "pending"


def pull_detail(p: dict[str, Any], reviews: list[dict[str, Any]], raw: bool = False) -> PullRequestDetail:
    base = pull(p, raw)
    reviewers = [_login(u) for u in p.get("requested_reviewers") or [] if isinstance(u, dict)]
    for rv in reviews:
        who = _login(rv.get("user"))
        if who and who not in reviewers:
            reviewers.append(who)
    mergeable = p.get("mergeable")
    out: PullRequestDetail = {
        **base,
        "reviewStatus": review_status(reviews),
        "headSha": _opt((p.get("head") or {}).get("sha")),
        "baseSha": _opt((p.get("base") or {}).get("sha")),
        "mergeable": mergeable if isinstance(mergeable, bool) else None,
        "additions": _int(p.get("additions")),
        "deletions": _int(p.get("deletions")),
        "changedFiles": _int(p.get("changed_files")),
        "reviewers": reviewers,
    }
    return out


def issue(i: dict[str, Any], raw: bool = False) -> Issue:
    out: Issue = {
        "id": _s(i.get("id")),
        "number": int(i.get("number") or 0),
        "title": _s(i.get("title")),
        "body": _s(i.get("body")),
        "state": "closed" if i.get("state") == "closed" else "open",
        "author": _login(i.get("user")),
        "assignees": [_login(a) for a in i.get("assignees") or [] if isinstance(a, dict)],
        "labels": _labels(i),
        "createdAt": _s(i.get("created_at")),
        "updatedAt": _s(i.get("updated_at")),
        "url": _s(i.get("html_url")),
    }
    if "pull_request" in i:
        out["isPullRequest"] = True
    return _with_raw(out, i, raw)


def comment(c: dict[str, Any], raw: bool = False) -> Comment:
    out: Comment = {
        "id": _s(c.get("id")),
        "body": _s(c.get("body")),
        "author": _login(c.get("user")),
        "createdAt": _s(c.get("created_at")),
        "url": _opt(c.get("html_url")),
        "path": _opt(c.get("path")),
        "line": _int(c.get("line")),
    }
    return _with_raw(out, c, raw)


_REVIEW_STATES: dict[str, Literal["approved", "changes_requested", "commented", "pending"]] = {
    "APPROVED": "approved",
    "CHANGES_REQUESTED": "changes_requested",
    "COMMENTED": "commented",
    "PENDING": "pending",
}


def review(rv: dict[str, Any], raw: bool = False) -> Review:
    out: Review = {
        "id": _s(rv.get("id")),
        "state": _REVIEW_STATES.get(str(rv.get("state")), "commented"),
        "body": _s(rv.get("body")),
        "author": _login(rv.get("user")),
        "submittedAt": _opt(rv.get("submitted_at")),
        "url": _opt(rv.get("html_url")),
    }
    return _with_raw(out, rv, raw)


def merge_result(m: dict[str, Any], raw: bool = False) -> MergeResult:
    out: MergeResult = {
        "merged": bool(m.get("merged")),
        "sha": _opt(m.get("sha")),
        "message": _s(m.get("message")),
    }
    return _with_raw(out, m, raw)


def file_content(f: dict[str, Any], raw: bool = False) -> FileContent:
    text = _s(f.get("content"))
    encoding: Literal["utf-8", "base64"] = "base64"
    content = text.replace("\n", "")
    if f.get("encoding") == "base64":
        try:
            decoded = base64.b64decode(content, validate=False)
            content, encoding = decoded.decode("utf-8"), "utf-8"
        except (binascii.Error, UnicodeDecodeError, ValueError):
            encoding = "base64"
    elif f.get("encoding") in (None, "", "utf-8"):
        content, encoding = text, "utf-8"
    out: FileContent = {
        "path": _s(f.get("path")),
        "name": _s(f.get("name")),
        "sha": _s(f.get("sha")),
        "size": int(f.get("size") or 0),
        "encoding": encoding,
        "content": content,
        "url": _opt(f.get("html_url")),
    }
    return _with_raw(out, f, raw)


_TREE_TYPES: dict[str, Literal["file", "directory", "submodule", "symlink"]] = {
    "blob": "file",
    "tree": "directory",
    "commit": "submodule",
}


def tree_node(t: dict[str, Any]) -> TreeNode:
    path = _s(t.get("path"))
    mode = _s(t.get("mode"))
    kind = "symlink" if mode == "120000" else _TREE_TYPES.get(str(t.get("type")), "file")
    return {
        "path": path,
        "name": path.rsplit("/", 1)[-1],
        "type": kind,
        "sha": _s(t.get("sha")),
        "size": _int(t.get("size")),
        "mode": mode,
    }


_QUEUED = {"queued", "requested", "waiting", "pending"}


def _run_status(status: Any) -> str:
    s = _s(status)
    if s in _QUEUED:
        return "queued"
    return s or "queued"


def workflow_run(r: dict[str, Any], raw: bool = False) -> WorkflowRun:
    out: WorkflowRun = {
        "id": _s(r.get("id")),
        "name": _opt(r.get("name") or r.get("display_title")),
        "workflowId": _opt(r.get("workflow_id")),
        "status": _run_status(r.get("status")),
        "conclusion": _opt(r.get("conclusion")),
        "branch": _opt(r.get("head_branch")),
        "commit": _opt(r.get("head_sha")),
        "event": _opt(r.get("event")),
        "createdAt": _s(r.get("created_at")),
        "updatedAt": _opt(r.get("updated_at")),
        "url": _opt(r.get("html_url")),
    }
    return _with_raw(out, r, raw)


def job(j: dict[str, Any]) -> WorkflowJob:
    return {
        "id": _s(j.get("id")),
        "name": _s(j.get("name")),
        "status": _run_status(j.get("status")),
        "conclusion": _opt(j.get("conclusion")),
        "startedAt": _opt(j.get("started_at")),
        "completedAt": _opt(j.get("completed_at")),
        "url": _opt(j.get("html_url")),
    }


def workflow_run_detail(
    r: dict[str, Any], jobs: list[dict[str, Any]], raw: bool = False
) -> WorkflowRunDetail:
    return {**workflow_run(r, raw), "jobs": [job(j) for j in jobs]}


def code_result(c: dict[str, Any], raw: bool = False) -> CodeSearchResult:
    fragments = [
        _s(m.get("fragment"))
        for m in c.get("text_matches") or []
        if isinstance(m, dict) and m.get("fragment")
    ]
    out: CodeSearchResult = {
        "path": _s(c.get("path")),
        "name": _s(c.get("name")),
        "repository": _s((c.get("repository") or {}).get("full_name")),
        "url": _opt(c.get("html_url")),
        "sha": _opt(c.get("sha")),
        "fragments": fragments,
    }
    return _with_raw(out, c, raw)


def webhook(h: dict[str, Any], raw: bool = False) -> Webhook:
    out: Webhook = {
        "id": _s(h.get("id")),
        "url": _s((h.get("config") or {}).get("url")),
        "events": [str(e) for e in h.get("events") or []],
        "active": bool(h.get("active", True)),
        "createdAt": _opt(h.get("created_at")),
    }
    return _with_raw(out, h, raw)
