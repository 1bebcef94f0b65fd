"""Conditional GETs: ``ETag`` / ``If-None-Match``, so an unchanged resource costs no rate limit.

GitHub answers ``304 Not Modified`` to a GET whose ``If-None-Match`` matches the resource's current
ETag, and a 304 is not counted against the primary rate limit. ``ConditionalGet`` keeps the ETag
and the body of each GET, keyed by tenant, instance, path, query and ``Accept`` (so two instances
never share a private body), and serves the stored body when the answer is 304.

Where the pairs live: in the fabric's store when the connector's context offers a key-value cache
(``context.cache`` with ``get(key) -> str | None`` and ``set(key, value, ttl_s)``), so separate CLI
processes share them; otherwise in memory for the life of the process (a server, an in-process
gateway, and the polling of ``actions.trigger``, which re-reads the same list every few seconds).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from cuervo_fabric.sdk import ConnectorContext, HttpClient

__all__ = ["ConditionalGet", "KeyValueCache"]

#: Bodies larger than this are not kept (a tree of a huge monorepo, a big search page).
MAX_BODY_BYTES = 512_000
#: How long a stored ETag stays useful.
TTL_S = 24 * 3600


class KeyValueCache(Protocol):
    """What ``ConditionalGet`` needs of a persistent cache offered by the fabric."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, ttl_s: int) -> None: ...


class _MemoryCache:
    """A small LRU shared by every connector object of the process (at most 64 x 512 kB)."""

    entries: ClassVar[OrderedDict[str, str]] = OrderedDict()
    limit: ClassVar[int] = 64
    lock: ClassVar[threading.Lock] = threading.Lock()

    def get(self, key: str) -> str | None:
        with self.lock:
            value = self.entries.get(key)
            if value is not None:
                self.entries.move_to_end(key)
            return value

    def set(self, key: str, value: str, ttl_s: int) -> None:
        with self.lock:
            self.entries[key] = value
            self.entries.move_to_end(key)
            while len(self.entries) > self.limit:
                self.entries.popitem(last=False)


class ConditionalGet:
    """GET through ``http`` with ``If-None-Match`` when an ETag is known; 304 serves the stored body."""

    def __init__(self, http: HttpClient, context: ConnectorContext) -> None:
        self.http = http
        self.scope = f"{context.tenant_id}/{context.instance_id}"
        offered: Any = getattr(context, "cache", None)
        self.cache: KeyValueCache = offered if _is_cache(offered) else _MemoryCache()
        #: How many GETs were answered 304 (and so served from the stored body).
        self.not_modified = 0

    def _key(self, path: str, params: Mapping[str, Any] | None, accept: str) -> str:
        ident = json.dumps([self.scope, path, sorted((params or {}).items()), accept], default=str)
        return "github-etag:" + hashlib.sha256(ident.encode()).hexdigest()

    def get(self, path: str, *, params: Mapping[str, Any] | None, headers: Mapping[str, str]) -> Any:
        key = self._key(path, params, headers.get("Accept", ""))
        stored = _load(self.cache.get(key))
        sent = dict(headers)
        if stored is not None:
            sent["If-None-Match"] = stored[0]
        resp = self.http.get(path, params=params, headers=sent)
        if resp.status_code == 304:
            if stored is not None:
                self.not_modified += 1
                return stored[1]
            resp = self.http.get(path, params=params, headers=dict(headers))
        body = resp.json() if resp.content else None
        etag = resp.headers.get("etag")
        if etag and body is not None and len(resp.content) <= MAX_BODY_BYTES:
            self.cache.set(key, json.dumps([etag, body]), TTL_S)
        return body


def _is_cache(obj: Any) -> bool:
    return callable(getattr(obj, "get", None)) and callable(getattr(obj, "set", None))


def _load(raw: str | None) -> tuple[str, Any] | None:
    if not raw:
        return None
    try:
        etag, body = json.loads(raw)
    except (ValueError, TypeError):
        return None
    return (str(etag), body)
