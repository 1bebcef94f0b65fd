"""Behaviour of the {{ display_name }} connector, through the real fabric pipeline."""

from __future__ import annotations

from typing import Any

from cuervo_fabric.testing import FabricHarness, MockProvider, Reply, unauthorized


def install(harness: FabricHarness, provider: MockProvider, token: dict[str, Any]) -> str:
    """Install an active instance pointed at the mock provider; return its id."""
    settings = {
        "base_url": provider.url,
        "client_id": "test-client",
        "token_url": f"{provider.url}/oauth/token",
    }
    return harness.install("{{ connector_id }}", settings, credential=token).id


def test_me_read_sends_the_access_token(
    mock_provider: MockProvider, harness: FabricHarness
) -> None:
    """me.read sends the stored access token as a Bearer token."""
    mock_provider.expect(
        "GET", "/me", Reply(200, {"id": "u1"}), headers={"Authorization": "Bearer at-1"}
    )
    instance = install(harness, mock_provider, {"access_token": "at-1"})
    result = harness.exec(instance, "me.read")
    assert result.success, result.error
    assert result.data == {"id": "u1"}


def test_item_list_follows_the_cursor(mock_provider: MockProvider, harness: FabricHarness) -> None:
    """item.list asks for the next page with the cursor of the previous one."""
    mock_provider.expect("GET", "/items", Reply(200, {"data": [{"id": 1}], "next_cursor": "c2"}))
    mock_provider.expect(
        "GET",
        "/items",
        Reply(200, {"data": [{"id": 2}], "next_cursor": None}),
        query={"cursor": "c2"},
    )
    instance = install(harness, mock_provider, {"access_token": "at-1"})
    result = harness.exec(instance, "item.list")
    assert result.success, result.error
    assert [item["id"] for item in result.data] == [1, 2]


def test_expired_token_is_refreshed_once_and_retried(
    mock_provider: MockProvider, harness: FabricHarness
) -> None:
    """A 401 triggers one refresh at token_url; the request is retried with the new token."""
    mock_provider.expect("GET", "/me", unauthorized(), headers={"Authorization": "Bearer at-1"})
    mock_provider.expect_token_refresh("/oauth/token", access_token="at-2")
    mock_provider.expect(
        "GET", "/me", Reply(200, {"id": "u1"}), headers={"Authorization": "Bearer at-2"}
    )
    instance = install(harness, mock_provider, {"access_token": "at-1", "refresh_token": "rt-1"})
    result = harness.exec(instance, "me.read")
    assert result.success, result.error
    assert result.data == {"id": "u1"}
