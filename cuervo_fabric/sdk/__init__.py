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
