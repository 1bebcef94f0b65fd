"""The pagination helpers, driven by a connector through the real pipeline against a strict mock provider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cuervo_fabric.sdk import (
    BaseConnector,
    ConnectorCategory,
    ConnectorMetadata,
    action,
    paginate_cursor,
    paginate_graphql,
    paginate_link_header,
    paginate_offset,
    paginate_pages,
    parse_link_header,
)
from cuervo_fabric.testing import FabricHarness, MockProvider, Reply

QUERY = (
    "query($after: String) { viewer { repos(first: 2, after: $after) "
    "{ nodes { name } pageInfo { hasNextPage endCursor } } } }"
)


class Pager(BaseConnector):
    """One action per pagination style."""

    id = "pager"
    version = "1.0.0"
    metadata = ConnectorMetadata(
        name="Pager", description="pages", category=ConnectorCategory.CUSTOM, vendor="t"
    )
    config_schema = {"type": "object", "properties": {"base_url": {"type": "string"}}}

    @action("link", params={"type": "object", "properties": {"max_items": {"type": "integer"}}})
    def link(self, params: dict[str, Any]) -> list[Any]:
        return list(
            paginate_link_header(
                self.http, "/items", params={"per_page": 2}, max_items=params.get("max_items")
            )
        )

    @action("cursor")
    def cursor(self, params: dict[str, Any]) -> list[Any]:
        return list(paginate_cursor(self.http, "/members", items="members", next_cursor="meta.next"))

    @action("cursor.json")
    def cursor_json(self, params: dict[str, Any]) -> list[Any]:
        return list(
            paginate_cursor(
                self.http,
                "/search",
                method="POST",
                json={"q": "x"},
                items="results",
                next_cursor="next_cursor",
                cursor_param="start_cursor",
                cursor_in="json",
            )
        )

    @action("offset")
    def offset(self, params: dict[str, Any]) -> list[Any]:
        return list(
            paginate_offset(
                self.http,
                "/issues",
                items="issues",
                offset_param="startAt",
                limit_param="maxResults",
                page_size=2,
                total="total",
            )
        )

    @action("pages")
    def pages(self, params: dict[str, Any]) -> list[Any]:
        return list(paginate_pages(self.http, "/runs", items="runs", page_size=2, max_pages=5))

    @action("graphql")
    def graphql(self, params: dict[str, Any]) -> list[Any]:
        return list(paginate_graphql(self.http, "/graphql", QUERY, connection="data.viewer.repos"))


@pytest.fixture
def api() -> Iterator[MockProvider]:
    with MockProvider() as provider:
        yield provider


@pytest.fixture
def run(api: MockProvider, tmp_path: Path) -> Iterator[Any]:
    with FabricHarness(tmp_path, connectors=[Pager]) as fabric:
        inst = fabric.install("pager", {"base_url": api.url})
        yield lambda name, params=None: fabric.exec(inst, name, params or {})


def test_link_header_pages_are_followed(api: MockProvider, run: Any) -> None:
    """Each rel=next link is requested in turn; the items of every page come back in order."""
    api.expect(
        "GET",
        "/items",
        Reply(
            200,
            [1, 2],
            {"Link": f'<{api.url}/items?page=2>; rel="next", <{api.url}/items?page=3>; rel="last"'},
        ),
        query={"per_page": "2"},
    )
    api.expect(
        "GET", "/items", Reply(200, [3, 4], {"Link": '</items?page=3>; rel="next"'}), query={"page": "2"}
    )
    api.expect("GET", "/items", Reply(200, [5]), query={"page": "3"})
    result = run("link")
    assert result.success, result.error
    assert result.data == [1, 2, 3, 4, 5]
    assert result.metadata.api_calls == 3


def test_link_header_stops_at_max_items_without_fetching_more(api: MockProvider, run: Any) -> None:
    """max_items ends paging early; the strict mock proves no further page was requested."""
    api.expect("GET", "/items", Reply(200, [1, 2], {"Link": f'<{api.url}/items?page=2>; rel="next"'}))
    assert run("link", {"max_items": 2}).data == [1, 2]


def test_link_to_another_origin_is_refused(api: MockProvider, run: Any) -> None:
    """A next link to another host is not followed: the gateway would send it the credentials."""
    api.expect("GET", "/items", Reply(200, [1], {"Link": '<https://evil.example.net/steal>; rel="next"'}))
    result = run("link")
    assert result.error is not None
    assert result.error["code"] == "UPSTREAM_ERROR"
    assert "another origin" in result.error["message"]


def test_cursor_pages_in_query_and_json(api: MockProvider, run: Any) -> None:
    """The previous page's cursor is sent as a query parameter, or in the JSON body for POST APIs."""
    api.expect("GET", "/members", Reply(200, {"members": ["a"], "meta": {"next": "c2"}}))
    api.expect(
        "GET", "/members", Reply(200, {"members": ["b"], "meta": {"next": ""}}), query={"cursor": "c2"}
    )
    assert run("cursor").data == ["a", "b"]
    api.expect("POST", "/search", Reply(200, {"results": [1], "next_cursor": "n2"}), json={"q": "x"})
    api.expect(
        "POST",
        "/search",
        Reply(200, {"results": [2], "next_cursor": None}),
        json={"q": "x", "start_cursor": "n2"},
    )
    assert run("cursor.json").data == [1, 2]


def test_offset_pages_stop_at_the_total(api: MockProvider, run: Any) -> None:
    """Offsets advance by the page's length and stop when the total is reached."""
    api.expect(
        "GET",
        "/issues",
        Reply(200, {"issues": ["i1", "i2"], "total": 3}),
        query={"startAt": "0", "maxResults": "2"},
    )
    api.expect("GET", "/issues", Reply(200, {"issues": ["i3"], "total": 3}), query={"startAt": "2"})
    assert run("offset").data == ["i1", "i2", "i3"]


def test_page_numbers_stop_at_a_short_page(api: MockProvider, run: Any) -> None:
    """Page numbers count up until a page comes back shorter than the page size."""
    api.expect("GET", "/runs", Reply(200, {"runs": [1, 2]}), query={"page": "1", "per_page": "2"})
    api.expect("GET", "/runs", Reply(200, {"runs": [3]}), query={"page": "2"})
    assert run("pages").data == [1, 2, 3]


def test_graphql_connection_pages_and_errors(api: MockProvider, run: Any) -> None:
    """Relay pageInfo drives the cursor variable; a GraphQL errors array maps onto a stable code."""
    page1 = {
        "data": {
            "viewer": {
                "repos": {"nodes": [{"name": "a"}], "pageInfo": {"hasNextPage": True, "endCursor": "Y1"}}
            }
        }
    }
    page2 = {
        "data": {
            "viewer": {
                "repos": {"nodes": [{"name": "b"}], "pageInfo": {"hasNextPage": False, "endCursor": "Y2"}}
            }
        }
    }
    api.expect("POST", "/graphql", Reply(200, page1), json={"query": QUERY, "variables": {"after": None}})
    api.expect("POST", "/graphql", Reply(200, page2), json={"query": QUERY, "variables": {"after": "Y1"}})
    assert run("graphql").data == [{"name": "a"}, {"name": "b"}]
    api.expect(
        "POST",
        "/graphql",
        Reply(200, {"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded"}]}),
    )
    limited = run("graphql")
    assert limited.error is not None
    assert limited.error["code"] == "RATE_LIMITED"


def test_parse_link_header_handles_several_rels_and_spacing() -> None:
    """RFC 8288 values with several links, extra parameters and space-separated rels parse."""
    value = '<https://a/x?page=2>; rel="next"; title="n",<https://a/x?page=1>;rel="prev first"'
    assert parse_link_header(value) == {
        "next": "https://a/x?page=2",
        "prev": "https://a/x?page=1",
        "first": "https://a/x?page=1",
    }
    assert parse_link_header(None) == {}
