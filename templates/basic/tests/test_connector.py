"""Behaviour of the {{ display_name }} connector, through the real fabric pipeline."""

from __future__ import annotations

from cuervo_fabric.testing import (
    FabricHarness,
    MockProvider,
    Reply,
    rate_limited,
    server_error,
    unauthorized,
)

API_KEY = "test-api-key"


def install(harness: FabricHarness, provider: MockProvider) -> str:
    """Install an active instance pointed at the mock provider; return its id."""
    settings = {"base_url": provider.url}
    return harness.install("{{ connector_id }}", settings, credential=API_KEY).id


def test_item_list_follows_link_pages(mock_provider: MockProvider, harness: FabricHarness) -> None:
    """item.list returns the items of every page and sends the API key on each request."""
    next_page = f'<{mock_provider.url}/items?page=2&per_page=100>; rel="next"'
    mock_provider.expect(
        "GET",
        "/items",
        Reply(200, [{"id": "1"}], headers={"Link": next_page}),
        query={"per_page": "100"},
        headers={"X-API-Key": API_KEY},
    )
    mock_provider.expect("GET", "/items", Reply(200, [{"id": "2"}]), query={"page": "2"})
    result = harness.exec(install(harness, mock_provider), "item.list")
    assert result.success, result.error
    assert [item["id"] for item in result.data] == ["1", "2"]


def test_item_get_rejects_missing_id_before_any_request(
    mock_provider: MockProvider, harness: FabricHarness
) -> None:
    """item.get without an id fails with INVALID_INPUT; the strict mock proves nothing was sent."""
    result = harness.exec(install(harness, mock_provider), "item.get", {})
    assert not result.success
    assert result.error is not None
    assert result.error["code"] == "INVALID_INPUT"


def test_rate_limit_is_waited_out(mock_provider: MockProvider, harness: FabricHarness) -> None:
    """A 429 with Retry-After is retried (the wait is skipped in tests) and the call succeeds."""
    mock_provider.expect("GET", "/items/42", rate_limited(1), Reply(200, {"id": "42"}))
    result = harness.exec(install(harness, mock_provider), "item.get", {"id": "42"})
    assert result.success, result.error
    assert result.data == {"id": "42"}


def test_create_is_not_retried_without_idempotency_key(
    mock_provider: MockProvider, harness: FabricHarness
) -> None:
    """A 503 on item.create is reported once: creating twice would be worse than failing."""
    mock_provider.expect("POST", "/items", server_error(503), json={"name": "widget"})
    result = harness.exec(install(harness, mock_provider), "item.create", {"name": "widget"})
    assert result.error is not None
    assert result.error["code"] == "UPSTREAM_ERROR"


def test_rejected_key_is_auth_failed(mock_provider: MockProvider, harness: FabricHarness) -> None:
    """A 401 from the provider is AUTH_FAILED, and the key never appears in the error."""
    mock_provider.expect("GET", "/items/1", unauthorized())
    result = harness.exec(install(harness, mock_provider), "item.get", {"id": "1"})
    assert result.error is not None
    assert result.error["code"] == "AUTH_FAILED"
    assert API_KEY not in str(result.error)
