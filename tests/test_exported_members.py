"""The public API is exactly what ``__all__`` says, documented, and cheap to import (httpx's discipline)."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import cuervo_fabric.sdk
import cuervo_fabric.testing

SDK_ALL = [
    "clone_with_git",
    "describe_delivery",
    "git_credential",
    "RepoListOptions",
    "GitCredential",
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
    "error_for_code",
    "error_for_status",
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

TESTING_ALL = [
    "SCRUBBED",
    "Cassette",
    "Expectation",
    "FabricHarness",
    "FakeClock",
    "LoopbackServer",
    "MockProvider",
    "RecordedRequest",
    "Reply",
    "connector_test_class",
    "dropped_connection",
    "mock_provider",
    "rate_limited",
    "sample_config",
    "sample_params",
    "sample_value",
    "server_error",
    "slow_reply",
    "unauthorized",
]

#: Names owned by the SCM and webhook modules, whose docstrings those modules' authors keep.
_EXAMPLES_ELSEWHERE = {
    name
    for module in ("cuervo_fabric.sdk._scm", "cuervo_fabric.sdk._webhooks", "cuervo_fabric.errors")
    for name in getattr(sys.modules.get(module), "__all__", [])
}
#: Names this project wrote for the SDK and test kit: each needs an example.
MINE = [
    "ActionDeclaration",
    "BaseConnector",
    "ConnectorContext",
    "HttpClient",
    "KeyValueCache",
    "RetryClock",
    "SourceControlConnector",
    "action",
    "describe_delivery",
    "error_for_status",
    "is_retryable",
    "paginate_cursor",
    "paginate_graphql",
    "paginate_link_header",
    "paginate_offset",
    "paginate_pages",
    "parse_link_header",
    "poll_until",
    "retry",
]


@pytest.mark.parametrize(
    ("module", "expected"), [(cuervo_fabric.sdk, SDK_ALL), (cuervo_fabric.testing, TESTING_ALL)]
)
def test_all_is_pinned_and_sorted(module: object, expected: list[str]) -> None:
    """``__all__`` lists exactly the pinned public names, and every one of them exists."""
    names = list(module.__all__)  # type: ignore[attr-defined]
    assert sorted(names) == sorted(expected)
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(module, name), name


@pytest.mark.parametrize(
    ("module", "names"),
    [(cuervo_fabric.sdk, MINE), (cuervo_fabric.testing, [n for n in TESTING_ALL if n != "SCRUBBED"])],
)
def test_public_names_have_docstrings_with_examples(module: object, names: list[str]) -> None:
    """Every public class and function of the SDK and test kit has a docstring with an example."""
    for name in names:
        obj = getattr(module, name)
        doc = inspect.getdoc(obj) or ""
        assert doc, f"{name} has no docstring"
        assert "Example" in doc, f"{name}'s docstring has no example"


def test_every_public_sdk_name_has_a_docstring() -> None:
    """No public SDK class or function goes undocumented."""
    for name in cuervo_fabric.sdk.__all__:
        obj = getattr(cuervo_fabric.sdk, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), name


def test_template_methods_document_an_example() -> None:
    """Each method a connector author overrides shows how, in its docstring."""
    for name in ("on_initialize", "on_shutdown", "on_health_check", "on_upgrade", "actions"):
        assert "Example" in (inspect.getdoc(getattr(cuervo_fabric.sdk.BaseConnector, name)) or ""), name


def test_importing_the_sdk_and_test_kit_stays_light() -> None:
    """``import cuervo_fabric.sdk`` (and ``.testing``) loads no HTTP, validation or crypto library."""
    code = (
        "import sys, cuervo_fabric.sdk, cuervo_fabric.testing;"
        "print(sorted(m for m in ('httpx', 'pydantic', 'jsonschema', 'cryptography', 'rich', 'pytest')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
