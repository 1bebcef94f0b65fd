"""GitLab pagination: ``Link: <...>; rel="next"``, else the ``x-next-page`` header.

GitLab sends both for offset pagination; keyset pagination (``pagination=keyset``) sends only the
Link header, and some endpoints only ``x-next-page``. A next link to another origin is refused: the
gateway adds the instance's token to every request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from cuervo_fabric.sdk import HttpClient, UpstreamError, parse_link_header

__all__ = ["paginate"]


def paginate(
    http: HttpClient,
    path: str,
    *,
    params: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
    keep: Callable[[Any], bool] | None = None,
    max_pages: int | None = None,
    max_items: int | None = None,
) -> Iterator[Any]:
    """Yield the items of ``path`` page after page (``max_pages``/``max_items`` stop early)."""
    url: str | None = path
    query: dict[str, Any] | None = dict(params)
    pages = items = 0
    origin: tuple[str, str] | None = None
    while url is not None and (max_pages is None or pages < max_pages):
        resp = http.get(url, params=query, headers=dict(headers or {}))
        pages += 1
        here = str(resp.request.url)
        origin = origin or (urlsplit(here).scheme, urlsplit(here).netloc)
        body = resp.json() if resp.content else []
        for item in body if isinstance(body, list) else []:
            if keep is not None and not keep(item):
                continue
            if max_items is not None and items >= max_items:
                return
            items += 1
            yield item
        if max_items is not None and items >= max_items:
            return
        link = parse_link_header(resp.headers.get("link")).get("next")
        next_page = resp.headers.get("x-next-page", "").strip()
        if link:
            candidate = urljoin(here, link)
            if (urlsplit(candidate).scheme, urlsplit(candidate).netloc) != origin:
                raise UpstreamError(
                    f"refusing to follow a pagination link to {urlsplit(candidate).netloc}: "
                    "credentials would be sent there"
                )
            url, query = candidate, None
        elif next_page.isdigit():
            url, query = path, {**dict(params), "page": int(next_page)}
        else:
            url = None
