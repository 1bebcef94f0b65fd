"""ETag reuse across connector objects when the fabric offers a key-value cache (`context.cache`)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
from cuervo_fabric_github._conditional import ConditionalGet


class KeyValue(dict[str, str]):
    def set(self, key: str, value: str, ttl_s: int) -> None:
        self[key] = value


class Provider:
    """Answers 304 to the current ETag, like GitHub."""

    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []

    def get(self, url: str, *, params: Any = None, headers: Any = None) -> httpx.Response:
        self.sent.append(dict(headers or {}))
        request = httpx.Request("GET", "https://api.github.com" + url)
        if (headers or {}).get("If-None-Match") == '"v1"':
            return httpx.Response(304, request=request)
        return httpx.Response(200, json={"full_name": "octo/app"}, headers={"ETag": '"v1"'}, request=request)


def test_an_offered_cache_lets_another_process_reuse_the_etag() -> None:
    """Another connector object (another process) sends If-None-Match; the 304 is served from the cache."""
    shared = KeyValue()
    ctx = SimpleNamespace(tenant_id="t", instance_id="i", cache=shared)
    first, second = Provider(), Provider()
    body = ConditionalGet(first, ctx).get("/repos/octo/app", params=None, headers={"Accept": "a"})  # type: ignore[arg-type]
    again = ConditionalGet(second, ctx)  # type: ignore[arg-type]
    assert (
        again.get("/repos/octo/app", params=None, headers={"Accept": "a"})
        == body
        == {"full_name": "octo/app"}
    )
    assert "If-None-Match" not in first.sent[0]
    assert second.sent[0]["If-None-Match"] == '"v1"'
    assert again.not_modified == 1
    other = Provider()
    stranger = SimpleNamespace(tenant_id="t", instance_id="another", cache=shared)
    ConditionalGet(other, stranger).get("/repos/octo/app", params=None, headers={"Accept": "a"})  # type: ignore[arg-type]
    assert "If-None-Match" not in other.sent[0], "one instance's stored body leaked to another"
