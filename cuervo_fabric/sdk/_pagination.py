"""Pagination helpers: Link headers, cursors, offsets, page numbers and GraphQL connections.

Each helper sends its requests through the connector's ``self.http`` (so every page goes through
the gateway: credentials, retries, rate limits) and yields the items one by one. Stop early with
``max_pages`` or ``max_items``; a plain ``break`` also works, no request is sent for pages you do
not reach.

Where to find the items in a response body (``items=``): ``None`` means the body itself is the
list, a string is a dotted path (``"data.items"``), a function gets the body and returns them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from cuervo_fabric.errors import (
    AuthFailedError,
    FabricError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    UpstreamError,
)

if TYPE_CHECKING:
    from cuervo_fabric.sdk._connector import HttpClient

__all__ = [
    "ItemsSpec",
    "paginate_cursor",
    "paginate_graphql",
    "paginate_link_header",
    "paginate_offset",
    "paginate_pages",
    "parse_link_header",
]

#: Where the items of a page are: ``None`` (the body), a dotted path, or ``body -> items``.
ItemsSpec = str | Callable[[Any], Iterable[Any]] | None

_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")
_PARAM = re.compile(r";\s*([a-zA-Z*]+)\s*=\s*\"?([^\";]*)\"?")


def pluck(body: Any, path: str) -> Any:
    """Follow a dotted path (``"data.items"``, ``"results.0.id"``); ``None`` when a step is missing."""
    current = body
    for step in path.split(".") if path else []:
        if isinstance(current, Mapping):
            current = current.get(step)
        elif isinstance(current, list) and step.lstrip("-").isdigit():
            index = int(step)
            current = current[index] if -len(current) <= index < len(current) else None
        else:
            return None
        if current is None:
            return None
    return current


def _items(body: Any, spec: ItemsSpec) -> list[Any]:
    found = spec(body) if callable(spec) else (body if spec is None else pluck(body, spec))
    if found is None:
        return []
    if isinstance(found, Mapping | str | bytes):
        where = spec if isinstance(spec, str) else "the response body"
        raise UpstreamError(
            f"expected a list of items at {where!r}, got {type(found).__name__}",
            details={"items": where},
        )
    return list(found)


def parse_link_header(value: str | None) -> dict[str, str]:
    """Parse an RFC 8288 ``Link`` header into ``{rel: url}``.

    Args:
        value: the header's value (``None`` or empty gives ``{}``).

    Returns:
        Each ``rel`` (a link may carry several, space-separated) mapped to its URL.

    Example:
        >>> from cuervo_fabric.sdk import parse_link_header
        >>> parse_link_header('<https://api.example.com/items?page=2>; rel="next", '
        ...                   '<https://api.example.com/items?page=9>; rel="last"')["next"]
        'https://api.example.com/items?page=2'
    """
    links: dict[str, str] = {}
    for match in _LINK.finditer(value or ""):
        url, params = match.group(1).strip(), match.group(2)
        for key, val in _PARAM.findall(params):
            if key.lower() == "rel":
                for rel in val.split():
                    links.setdefault(rel.lower(), url)
    return links


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class _Budget:
    """Counts pages and items against ``max_pages`` / ``max_items``."""

    def __init__(self, max_pages: int | None, max_items: int | None) -> None:
        if max_pages is not None and max_pages < 1:
            raise ValueError("max_pages must be at least 1")
        if max_items is not None and max_items < 0:
            raise ValueError("max_items must not be negative")
        self.max_pages = max_pages
        self.max_items = max_items
        self.pages = 0
        self.items = 0

    def more_pages(self) -> bool:
        return (self.max_pages is None or self.pages < self.max_pages) and not self.items_done()

    def items_done(self) -> bool:
        return self.max_items is not None and self.items >= self.max_items

    def take(self, items: list[Any]) -> Iterator[Any]:
        for item in items:
            if self.items_done():
                return
            self.items += 1
            yield item


def paginate_link_header(
    http: HttpClient,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    items: ItemsSpec = None,
    max_pages: int | None = None,
    max_items: int | None = None,
) -> Iterator[Any]:
    """Follow ``Link: <...>; rel="next"`` headers (GitHub, GitLab, many REST APIs).

    The next URL must have the same origin as the first page: the gateway adds the instance's
    credentials to every request, so a link to another host is refused (``UPSTREAM_ERROR``)
    rather than followed.

    Args:
        http: the connector's ``self.http``.
        url: the first page, relative to ``base_url``.
        params: query parameters of the first page (later pages carry theirs in the link).
        headers: extra headers for every page.
        items: where the items are in each page (see the module docstring).
        max_pages: stop after this many pages.
        max_items: stop after this many items.

    Yields:
        Each item of each page, in order.

    Example:
        >>> @action("repo.list")  # doctest: +SKIP
        ... def repo_list(self, params):
        ...     return list(paginate_link_header(self.http, "/user/repos",
        ...                                      params={"per_page": 100}, max_items=500))
    """
    budget = _Budget(max_pages, max_items)
    next_url: str | None = url
    query: Mapping[str, Any] | None = params
    origin: tuple[str, str] | None = None
    while next_url is not None and budget.more_pages():
        resp = http.get(next_url, params=query, headers=dict(headers or {}))
        budget.pages += 1
        here = str(resp.request.url)
        origin = origin or _origin(here)
        yield from budget.take(_items(resp.json(), items))
        link = parse_link_header(resp.headers.get("link")).get("next")
        next_url, query = None, None
        if link:
            candidate = urljoin(here, link)
            if _origin(candidate) != origin:
                raise UpstreamError(
                    "refusing to follow a pagination link to another origin "
                    f"({urlsplit(candidate).netloc}): credentials would be sent there",
                    details={"link": urlsplit(candidate).netloc},
                )
            next_url = candidate


def paginate_cursor(
    http: HttpClient,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    items: ItemsSpec = None,
    next_cursor: str | Callable[[Any], Any] = "next_cursor",
    cursor_param: str = "cursor",
    method: str = "GET",
    json: Mapping[str, Any] | None = None,
    cursor_in: str = "query",
    max_pages: int | None = None,
    max_items: int | None = None,
) -> Iterator[Any]:
    """Follow an opaque cursor from each response to the next request (Slack, Stripe, Notion).

    The first request has no cursor; each later one sends the previous response's cursor as the
    query parameter (or JSON field, ``cursor_in="json"``) ``cursor_param``. Paging stops when
    the response carries no cursor (missing, ``null`` or empty).

    Args:
        http: the connector's ``self.http``.
        url: the endpoint, relative to ``base_url``.
        params: query parameters sent with every page.
        headers: extra headers for every page.
        items: where the items are in each page.
        next_cursor: dotted path of the next cursor in the body, or ``body -> cursor``.
        cursor_param: the query parameter or JSON field that carries the cursor.
        method: ``"GET"``, or ``"POST"`` for APIs that page through a JSON body.
        json: the JSON body of every page (``POST``).
        cursor_in: ``"query"`` or ``"json"``.
        max_pages: stop after this many pages.
        max_items: stop after this many items.

    Yields:
        Each item of each page, in order.

    Example:
        >>> members = paginate_cursor(self.http, "/users.list", items="members",  # doctest: +SKIP
        ...                           next_cursor="response_metadata.next_cursor")
    """
    if cursor_in not in ("query", "json"):
        raise ValueError("cursor_in must be 'query' or 'json'")
    budget = _Budget(max_pages, max_items)
    cursor: Any = None
    while budget.more_pages():
        query = dict(params or {})
        body = dict(json or {}) if json is not None or cursor_in == "json" else None
        if cursor is not None:
            if cursor_in == "query":
                query[cursor_param] = cursor
            else:
                assert body is not None
                body[cursor_param] = cursor
        resp = http.request(method, url, params=query or None, json=body, headers=dict(headers or {}))
        budget.pages += 1
        data = resp.json()
        yield from budget.take(_items(data, items))
        cursor = next_cursor(data) if callable(next_cursor) else pluck(data, next_cursor)
        if cursor in (None, "", [], {}):
            return


def paginate_offset(
    http: HttpClient,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    items: ItemsSpec = None,
    offset_param: str = "offset",
    limit_param: str = "limit",
    page_size: int = 100,
    start: int = 0,
    total: str | Callable[[Any], Any] | None = None,
    max_pages: int | None = None,
    max_items: int | None = None,
) -> Iterator[Any]:
    """Page with ``offset``/``limit`` query parameters (Jira ``startAt``/``maxResults``, many SQL-ish APIs).

    Paging stops at a short page (fewer than ``page_size`` items), an empty page, or when the
    offset reaches ``total`` if the response says how many there are.

    Args:
        http: the connector's ``self.http``.
        url: the endpoint, relative to ``base_url``.
        params: query parameters sent with every page.
        headers: extra headers for every page.
        items: where the items are in each page.
        offset_param: name of the offset parameter.
        limit_param: name of the page-size parameter.
        page_size: items asked for per page.
        start: the first offset.
        total: dotted path of the total count in the body, or ``body -> total``.
        max_pages: stop after this many pages.
        max_items: stop after this many items.

    Yields:
        Each item of each page, in order.

    Example:
        >>> issues = paginate_offset(self.http, "/rest/api/3/search", items="issues",  # doctest: +SKIP
        ...                          offset_param="startAt", limit_param="maxResults",
        ...                          page_size=50, total="total")
    """
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    budget = _Budget(max_pages, max_items)
    offset = start
    while budget.more_pages():
        query = {**dict(params or {}), offset_param: offset, limit_param: page_size}
        resp = http.get(url, params=query, headers=dict(headers or {}))
        budget.pages += 1
        data = resp.json()
        page = _items(data, items)
        yield from budget.take(page)
        offset += len(page)
        count = (total(data) if callable(total) else pluck(data, total)) if total is not None else None
        if len(page) < page_size or not page or (isinstance(count, int) and offset >= count):
            return


def paginate_pages(
    http: HttpClient,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    items: ItemsSpec = None,
    page_param: str = "page",
    size_param: str = "per_page",
    page_size: int = 100,
    first_page: int = 1,
    max_pages: int | None = None,
    max_items: int | None = None,
) -> Iterator[Any]:
    """Page with a page number (``page=1,2,...``) until a short or empty page.

    Args:
        http: the connector's ``self.http``.
        url: the endpoint, relative to ``base_url``.
        params: query parameters sent with every page.
        headers: extra headers for every page.
        items: where the items are in each page.
        page_param: name of the page-number parameter.
        size_param: name of the page-size parameter.
        page_size: items asked for per page.
        first_page: the number of the first page (0 or 1).
        max_pages: stop after this many pages.
        max_items: stop after this many items.

    Yields:
        Each item of each page, in order.

    Example:
        >>> runs = paginate_pages(self.http, "/repos/o/r/actions/runs",  # doctest: +SKIP
        ...                       items="workflow_runs", page_size=50, max_pages=3)
    """
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    budget = _Budget(max_pages, max_items)
    number = first_page
    while budget.more_pages():
        query = {**dict(params or {}), page_param: number, size_param: page_size}
        resp = http.get(url, params=query, headers=dict(headers or {}))
        budget.pages += 1
        page = _items(resp.json(), items)
        yield from budget.take(page)
        if len(page) < page_size:
            return
        number += 1


_GRAPHQL_CODES: dict[str, type[FabricError]] = {
    "RATE_LIMITED": RateLimitedError,
    "NOT_FOUND": NotFoundError,
    "FORBIDDEN": PermissionDeniedError,
    "UNAUTHENTICATED": AuthFailedError,
}


def graphql_error(errors: list[Any]) -> FabricError:
    """Map a GraphQL ``errors`` array onto a stable error (``type`` or ``extensions.code``)."""
    first = errors[0] if errors and isinstance(errors[0], Mapping) else {}
    kind = str(first.get("type") or (first.get("extensions") or {}).get("code") or "").upper()
    message = "; ".join(str(e.get("message", e)) for e in errors[:3] if isinstance(e, Mapping)) or str(errors)
    cls = _GRAPHQL_CODES.get(kind, UpstreamError)
    return cls(f"GraphQL error: {message}"[:500], details={"graphqlType": kind} if kind else {})


def paginate_graphql(
    http: HttpClient,
    url: str,
    query: str,
    *,
    connection: str,
    variables: Mapping[str, Any] | None = None,
    cursor_variable: str = "after",
    headers: Mapping[str, str] | None = None,
    max_pages: int | None = None,
    max_items: int | None = None,
) -> Iterator[Any]:
    """Page through a Relay-style GraphQL connection (``pageInfo { hasNextPage endCursor }``).

    The query must take the cursor variable (``$after``) and select ``pageInfo`` and ``nodes``
    (or ``edges { node }``) on the connection. A response with ``errors`` raises the matching
    stable error (``RATE_LIMITED``, ``NOT_FOUND``, ``PERMISSION_DENIED``, ``AUTH_FAILED``, else
    ``UPSTREAM_ERROR``) instead of yielding a partial page.

    Args:
        http: the connector's ``self.http``.
        url: the GraphQL endpoint, relative to ``base_url`` (e.g. ``"/graphql"``).
        query: the GraphQL document.
        connection: dotted path of the connection object, e.g. ``"data.repository.issues"``.
        variables: the query's other variables.
        cursor_variable: the variable that carries the cursor.
        headers: extra headers for every page.
        max_pages: stop after this many pages.
        max_items: stop after this many nodes.

    Yields:
        Each node, in order.

    Example:
        >>> QUERY = '''query($owner: String!, $name: String!, $after: String) {
        ...   repository(owner: $owner, name: $name) {
        ...     issues(first: 100, after: $after) {
        ...       nodes { number title } pageInfo { hasNextPage endCursor } } } }'''
        >>> nodes = paginate_graphql(self.http, "/graphql", QUERY,  # doctest: +SKIP
        ...                          variables={"owner": "o", "name": "r"},
        ...                          connection="data.repository.issues")
    """
    budget = _Budget(max_pages, max_items)
    cursor: Any = None
    while budget.more_pages():
        values = {**dict(variables or {}), cursor_variable: cursor}
        resp = http.post(url, json={"query": query, "variables": values}, headers=dict(headers or {}))
        budget.pages += 1
        data = resp.json()
        if isinstance(data, Mapping) and data.get("errors"):
            raise graphql_error(list(data["errors"]))
        conn = pluck(data, connection)
        if not isinstance(conn, Mapping):
            raise UpstreamError(
                f"no GraphQL connection at {connection!r} in the response", details={"connection": connection}
            )
        if "nodes" in conn:
            nodes = list(conn.get("nodes") or [])
        else:
            nodes = [e.get("node") for e in conn.get("edges") or [] if isinstance(e, Mapping)]
        yield from budget.take(nodes)
        info = conn.get("pageInfo") or {}
        cursor = info.get("endCursor")
        if not info.get("hasNextPage") or not cursor:
            return
