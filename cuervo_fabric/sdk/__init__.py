"""The public connector SDK: the one surface connector authors import.

Everything here is stable API; every other ``cuervo_fabric`` module except ``cuervo_fabric.testing``
and ``cuervo_fabric.errors`` is internal and may change without notice. Importing this package is
cheap (no HTTP, validation or crypto library is loaded until a call needs it).

- ``BaseConnector`` and ``@action``: declare a connector and its capabilities.
- The seed's types: ``ConnectorMetadata``, ``Capability``, ``Permission``, ``RateLimits``, ...
- ``HttpClient``: the gateway's pre-configured client every connector gets as ``self.http``.
- Pagination (``paginate_link_header``, ``paginate_cursor``, ``paginate_offset``,
  ``paginate_pages``, ``paginate_graphql``) and retry helpers (``retry``, ``poll_until``).
- Typed errors that carry the stable error codes, and ``error_for_status``.
- Webhooks: ``WebhookSpec`` and the providers' signature schemes (``GitHubSignature``, ...).
- The source-control vocabulary (``Repository``, ``PullRequest``, ``SCM_ACTIONS``, ...) and
  ``SourceControlConnector``, the base class that declares the standard SCM actions once.

Example:
    >>> from typing import Any
    >>> from cuervo_fabric.sdk import BaseConnector, ConnectorCategory, ConnectorMetadata, action
    >>> class Acme(BaseConnector):
    ...     id = "acme"
    ...     version = "0.1.0"
    ...     metadata = ConnectorMetadata(name="Acme", description="Widgets",
    ...                                  category=ConnectorCategory.CUSTOM, vendor="Acme")
    ...     @action("widget.list", cache_ttl=60)
    ...     def widget_list(self, params: dict[str, Any]) -> Any:
    ...         return self.http.get("/widgets").json()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cuervo_fabric.domain.models import (
    AUTH_TYPES,
    Capability,
    ConnectorCategory,
    ConnectorMetadata,
    ConnectorResult,
    ConnectorSpec,
    HealthCheckResult,
    Permission,
    RateLimits,
)
from cuervo_fabric.errors import (
    AuthFailedError,
    AuthRequiredError,
    CallerError,
    CircuitOpenError,
    FabricError,
    FabricTimeoutError,
    InternalError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitedError,
    UnknownActionError,
    UpstreamError,
    error_for_code,
)
from cuervo_fabric.sdk._action import ActionDeclaration, action
from cuervo_fabric.sdk._connector import BaseConnector, ConnectorContext, HttpClient, KeyValueCache
from cuervo_fabric.sdk._errors import RETRYABLE_STATUSES, error_for_status
from cuervo_fabric.sdk._pagination import (
    ItemsSpec,
    paginate_cursor,
    paginate_graphql,
    paginate_link_header,
    paginate_offset,
    paginate_pages,
    parse_link_header,
)
from cuervo_fabric.sdk._retry import RetryClock, is_retryable, poll_until, retry

# The source-control kit and the webhook verifiers load on first use: most processes (an `exec`
# of the http connector, say) need neither, and building their TypedDicts, protocols and dataclasses
# costs ~20 ms at import.
if TYPE_CHECKING:
    from cuervo_fabric.sdk._scm import (
        SCM_ACTIONS,
        CloneResult,
        CodeSearchResult,
        Comment,
        CreateIssueInput,
        CreatePRInput,
        FileContent,
        GitCredential,
        Issue,
        IssueListOptions,
        ListOptions,
        MergeOptions,
        MergeResult,
        PRListOptions,
        PullRequest,
        PullRequestDetail,
        RepoListOptions,
        Repository,
        Review,
        ReviewComment,
        SearchOptions,
        SourceControlActions,
        SourceControlAdapter,
        SourceControlConnector,
        TreeNode,
        UpdateIssueInput,
        Webhook,
        WebhookRegistration,
        WorkflowJob,
        WorkflowRun,
        WorkflowRunDetail,
        WorkflowRunOptions,
        clone_with_git,
        git_credential,
        scm_params,
    )
    from cuervo_fabric.sdk._webhooks import (
        SCHEMES,
        GitHubSignature,
        GitLabToken,
        HubSignature,
        IncomingWebhook,
        LinearSignature,
        SlackSignature,
        StandardWebhooks,
        WebhookPayloadError,
        WebhookSignatureError,
        WebhookSpec,
        WebhookVerifier,
        describe_delivery,
        header,
        json_body,
        verifier_for_scheme,
    )

_LAZY = {
    "SCM_ACTIONS": "cuervo_fabric.sdk._scm",
    "CloneResult": "cuervo_fabric.sdk._scm",
    "CodeSearchResult": "cuervo_fabric.sdk._scm",
    "Comment": "cuervo_fabric.sdk._scm",
    "CreateIssueInput": "cuervo_fabric.sdk._scm",
    "CreatePRInput": "cuervo_fabric.sdk._scm",
    "FileContent": "cuervo_fabric.sdk._scm",
    "GitCredential": "cuervo_fabric.sdk._scm",
    "Issue": "cuervo_fabric.sdk._scm",
    "IssueListOptions": "cuervo_fabric.sdk._scm",
    "ListOptions": "cuervo_fabric.sdk._scm",
    "MergeOptions": "cuervo_fabric.sdk._scm",
    "MergeResult": "cuervo_fabric.sdk._scm",
    "PRListOptions": "cuervo_fabric.sdk._scm",
    "PullRequest": "cuervo_fabric.sdk._scm",
    "PullRequestDetail": "cuervo_fabric.sdk._scm",
    "RepoListOptions": "cuervo_fabric.sdk._scm",
    "Repository": "cuervo_fabric.sdk._scm",
    "Review": "cuervo_fabric.sdk._scm",
    "ReviewComment": "cuervo_fabric.sdk._scm",
    "SearchOptions": "cuervo_fabric.sdk._scm",
    "SourceControlActions": "cuervo_fabric.sdk._scm",
    "SourceControlAdapter": "cuervo_fabric.sdk._scm",
    "SourceControlConnector": "cuervo_fabric.sdk._scm",
    "TreeNode": "cuervo_fabric.sdk._scm",
    "UpdateIssueInput": "cuervo_fabric.sdk._scm",
    "Webhook": "cuervo_fabric.sdk._scm",
    "WebhookRegistration": "cuervo_fabric.sdk._scm",
    "WorkflowJob": "cuervo_fabric.sdk._scm",
    "WorkflowRun": "cuervo_fabric.sdk._scm",
    "WorkflowRunDetail": "cuervo_fabric.sdk._scm",
    "WorkflowRunOptions": "cuervo_fabric.sdk._scm",
    "clone_with_git": "cuervo_fabric.sdk._scm",
    "git_credential": "cuervo_fabric.sdk._scm",
    "scm_params": "cuervo_fabric.sdk._scm",
    "SCHEMES": "cuervo_fabric.sdk._webhooks",
    "GitHubSignature": "cuervo_fabric.sdk._webhooks",
    "GitLabToken": "cuervo_fabric.sdk._webhooks",
    "HubSignature": "cuervo_fabric.sdk._webhooks",
    "IncomingWebhook": "cuervo_fabric.sdk._webhooks",
    "LinearSignature": "cuervo_fabric.sdk._webhooks",
    "SlackSignature": "cuervo_fabric.sdk._webhooks",
    "StandardWebhooks": "cuervo_fabric.sdk._webhooks",
    "WebhookPayloadError": "cuervo_fabric.sdk._webhooks",
    "WebhookSignatureError": "cuervo_fabric.sdk._webhooks",
    "WebhookSpec": "cuervo_fabric.sdk._webhooks",
    "WebhookVerifier": "cuervo_fabric.sdk._webhooks",
    "describe_delivery": "cuervo_fabric.sdk._webhooks",
    "header": "cuervo_fabric.sdk._webhooks",
    "json_body": "cuervo_fabric.sdk._webhooks",
    "verifier_for_scheme": "cuervo_fabric.sdk._webhooks",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AUTH_TYPES",
    "RETRYABLE_STATUSES",
    "SCHEMES",
    "SCM_ACTIONS",
    "ActionDeclaration",
    "AuthFailedError",
    "AuthRequiredError",
    "BaseConnector",
    "CallerError",
    "Capability",
    "CircuitOpenError",
    "CloneResult",
    "CodeSearchResult",
    "Comment",
    "ConnectorCategory",
    "ConnectorContext",
    "ConnectorMetadata",
    "ConnectorResult",
    "ConnectorSpec",
    "CreateIssueInput",
    "CreatePRInput",
    "FabricError",
    "FabricTimeoutError",
    "FileContent",
    "GitCredential",
    "GitHubSignature",
    "GitLabToken",
    "HealthCheckResult",
    "HttpClient",
    "HubSignature",
    "IncomingWebhook",
    "InternalError",
    "InvalidInputError",
    "InvalidStateError",
    "Issue",
    "IssueListOptions",
    "ItemsSpec",
    "KeyValueCache",
    "LinearSignature",
    "ListOptions",
    "MergeOptions",
    "MergeResult",
    "NotFoundError",
    "PRListOptions",
    "Permission",
    "PermissionDeniedError",
    "ProviderError",
    "PullRequest",
    "PullRequestDetail",
    "RateLimitedError",
    "RateLimits",
    "RepoListOptions",
    "Repository",
    "RetryClock",
    "Review",
    "ReviewComment",
    "SearchOptions",
    "SlackSignature",
    "SourceControlActions",
    "SourceControlAdapter",
    "SourceControlConnector",
    "StandardWebhooks",
    "TreeNode",
    "UnknownActionError",
    "UpdateIssueInput",
    "UpstreamError",
    "Webhook",
    "WebhookPayloadError",
    "WebhookRegistration",
    "WebhookSignatureError",
    "WebhookSpec",
    "WebhookVerifier",
    "WorkflowJob",
    "WorkflowRun",
    "WorkflowRunDetail",
    "WorkflowRunOptions",
    "action",
    "clone_with_git",
    "describe_delivery",
    "error_for_code",
    "error_for_status",
    "git_credential",
    "header",
    "is_retryable",
    "json_body",
    "paginate_cursor",
    "paginate_graphql",
    "paginate_link_header",
    "paginate_offset",
    "paginate_pages",
    "parse_link_header",
    "poll_until",
    "retry",
    "scm_params",
    "verifier_for_scheme",
]
