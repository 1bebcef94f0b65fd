"""A scripted HTTP server on loopback, for tests, demos and benchmarks.

It is a real server (``http.server`` in a thread), so the code under test sends real requests over
a real socket: the gateway's retries, timeouts and headers all run for real.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["LoopbackServer", "RecordedRequest", "Reply"]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the server received.

    Attributes:
        method: the HTTP method, upper case.
        path: the path, without the query.
        query: the query parameters (each a list, as ``urllib.parse.parse_qs`` gives them).
        headers: the headers, names in lower case.
        body: the raw body.

    Example:
        >>> req = server.calls("POST", "/items")[0]  # doctest: +SKIP
        >>> req.json()["title"], req.headers["authorization"]  # doctest: +SKIP
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON (``None`` for an empty body).

        Example:
            >>> RecordedRequest("POST", "/x", {}, {}, b'{"a": 1}').json()
            {'a': 1}
        """
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        """The body parsed as ``application/x-www-form-urlencoded`` (first value of each field).

        Example:
            >>> RecordedRequest("POST", "/token", {}, {}, b"grant_type=refresh_token").form()
            {'grant_type': 'refresh_token'}
        """
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}


@dataclass(slots=True)
class Reply:
    """A scripted answer: status, body, headers, an optional delay, or a dropped connection.

    A ``dict`` or ``list`` body is sent as JSON, ``str`` as text, ``bytes`` as is.

    Attributes:
        status: the HTTP status.
        body: what to send.
        headers: extra response headers.
        delay_s: wait this long before answering (a slow provider, a timeout).
        drop: close the connection without answering (a network failure).

    Example:
        >>> Reply(429, {"message": "slow down"}, headers={"Retry-After": "2"}).status
        429
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False

    def encode(self) -> tuple[bytes, dict[str, str]]:
        """The body as bytes and the headers to send (``Content-Type`` added for JSON and text).

        Example:
            >>> Reply(200, {"ok": True}).encode()
            (b'{"ok": true}', {'Content-Type': 'application/json'})
        """
        headers = dict(self.headers)
        if isinstance(self.body, bytes):
            return self.body, headers
        if isinstance(self.body, str):
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            return self.body.encode(), headers
        if self.body is None:
            return b"", headers
        headers.setdefault("Content-Type", "application/json")
        return json.dumps(self.body).encode(), headers


#: A route answers with a fixed Reply, a list of Replies (one per call, the last repeats), or a
#: function of the request.
Route = Reply | list[Reply] | Callable[[RecordedRequest], Reply]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a timed-out test request) is not an error worth a traceback."""


class LoopbackServer:
    """A threaded HTTP server on ``127.0.0.1:<random port>``; use it as a context manager.

    Answer requests with ``route`` (fixed replies per method and path), with ``fallback`` (every
    other request), or with one ``handler`` function for everything. Unrouted requests get 404.

    Args:
        host: the address to bind (loopback only, for tests).
        port: 0 picks a free port.
        handler: answers every request (routes are then ignored).

    Example:
        >>> from cuervo_fabric.testing import LoopbackServer, Reply
        >>> with LoopbackServer() as server:
        ...     server.route("GET", "/items", Reply(200, {"items": []}))
        ...     import urllib.request
        ...     urllib.request.urlopen(server.url + "/items").status
        200
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        handler: Callable[[RecordedRequest], Reply] | None = None,
    ) -> None:
        self.handler = handler
        #: The reply for requests no route matches (``None``: 404).
        self.fallback: Route | None = None
        self.routes: dict[tuple[str, str], Route] = {}
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without TCP_NODELAY each request
            # waits ~40 ms for the client's delayed ACK.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                req = RecordedRequest(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                reply = server._answer(req)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.drop:
                    self.close_connection = True
                    return
                payload, headers = reply.encode()
                self.send_response(reply.status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        self._httpd = _QuietServer((host, port), Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The server's base URL, e.g. ``http://127.0.0.1:54321`` (use it as ``base_url``)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def route(self, method: str, path: str, reply: Route) -> None:
        """Answer ``method path`` with ``reply`` (replaces an earlier route; method ``*``: any).

        ``reply`` is a ``Reply``, a list of them (one per call, the last repeats), or a function
        of the ``RecordedRequest``.

        Example:
            >>> server.route("GET", "/items", [Reply(503), Reply(200, [])])  # doctest: +SKIP
        """
        self.routes[(method.upper(), path)] = reply

    def _answer(self, req: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(req)
            if self.handler is not None:
                handler = self.handler
            else:
                key = (req.method, req.path)
                route = self.routes.get(key) or self.routes.get(("*", req.path)) or self.fallback
                n = self._counts.get(key, 0)
                self._counts[key] = n + 1
        if self.handler is not None:
            return handler(req)
        if route is None:
            return Reply(404, {"message": f"no route for {req.method} {req.path}"})
        if isinstance(route, Reply):
            return route
        if isinstance(route, list):
            return route[min(n, len(route) - 1)]
        return route(req)

    def calls(self, method: str, path: str) -> list[RecordedRequest]:
        """The requests received for ``method path``, in order.

        Example:
            >>> len(server.calls("GET", "/items"))  # doctest: +SKIP
            2
        """
        with self._lock:
            return [r for r in self.requests if r.method == method.upper() and r.path == path]

    def start(self) -> LoopbackServer:
        """Start serving in a background thread (``with`` does this for you)."""
        # A short poll interval: ``stop()`` waits for the serving loop to notice, up to one interval.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
