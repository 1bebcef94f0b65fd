"""The loopback redirect of a native OAuth client (RFC 8252 §7.3).

The server binds ``127.0.0.1:<random port>`` *before* the authorization URL exists, so the
``redirect_uri`` in it is already listening; it answers exactly one matching callback, checks
``state`` (and ``iss``, RFC 9207), exchanges the code while the browser waits, shows it a short
page saying how that went, and gives up after a timeout.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

from cuervo_fabric.errors import AuthFailedError, FabricError, FabricTimeoutError, InternalError

__all__ = ["CallbackServer"]

CALLBACK_PATH = "/callback"
T = TypeVar("T")

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cuervo-fabric</title>
<style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;color:#222}}
h1{{font-size:1.4rem}} .bad{{color:#a00}}</style></head>
<body><h1 class="{css}">{title}</h1><p>{text}</p></body></html>
"""


def _page(ok: bool, text: str) -> bytes:
    title = "Signed in to cuervo-fabric" if ok else "cuervo-fabric sign-in failed"
    return _PAGE.format(css="ok" if ok else "bad", title=title, text=html.escape(text)).encode()


class CallbackServer(Generic[T]):
    """One-shot HTTP server for the authorization response; use as a context manager.

    Args:
        state: the ``state`` sent in the authorization request.
        issuer_ok: whether an ``iss`` parameter names the expected authorization server.
        exchange: turns the authorization code into the login's result (the token request).
    """

    def __init__(self, *, state: str, issuer_ok: Callable[[str], bool], exchange: Callable[[str], T]) -> None:
        self._state = state
        self._issuer_ok = issuer_ok
        self._exchange = exchange
        self.done = False
        self.result: T | None = None
        self.error: FabricError | None = None
        self._lock = threading.Lock()
        #: Set once the response that settled the login has been written to the browser.
        self._finished = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # a browser's idle pre-connection gives up after this

            def log_message(self, format: str, *args: Any) -> None:
                return  # the query holds the authorization code: never log it

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != CALLBACK_PATH:
                    self._send(
                        404, _page(False, "Nothing here; this server only takes the sign-in redirect.")
                    )
                    return
                params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                with outer._lock:
                    settles = not outer.done
                    try:
                        ok, text = outer._settle(params)
                    except Exception as exc:  # noqa: BLE001 - reported by wait(), not lost in a thread
                        outer.error = InternalError(f"the sign-in failed: {type(exc).__name__}: {exc}")
                        ok, text = False, "Something went wrong; see your terminal."
                    outer.done = True
                try:
                    self._send(200 if ok else 400, _page(ok, text))
                finally:
                    if settles:
                        outer._finished.set()

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.timeout = 0.25

    @property
    def redirect_uri(self) -> str:
        port = self._httpd.server_address[1]
        return f"http://127.0.0.1:{port}{CALLBACK_PATH}"

    def _settle(self, params: dict[str, str]) -> tuple[bool, str]:
        if self.done:
            return False, "This sign-in has already finished; you can close this tab."
        if params.get("state") != self._state:
            self.error = AuthFailedError(
                "the authorization response does not carry this login's state (stale or forged); "
                "run auth login again",
                details={"reason": "state_mismatch"},
            )
            return False, "This response does not belong to the sign-in in progress. Nothing was stored."
        iss = params.get("iss")
        if iss is not None and not self._issuer_ok(iss):
            self.error = AuthFailedError(
                f"the authorization response comes from issuer {iss!r}, not the server this login "
                "asked (a mix-up attack?); nothing was stored",
                details={"reason": "issuer_mismatch", "issuer": iss},
            )
            return False, "The response names an unexpected issuer. Nothing was stored."
        if "error" in params:
            err = params["error"]
            desc = params.get("error_description", "")[:300]
            self.error = AuthFailedError(
                f"the provider refused the authorization: {err}" + (f": {desc}" if desc else ""),
                details={"oauthError": err},
            )
            return False, f"The provider refused the sign-in ({err}). Return to your terminal."
        code = params.get("code")
        if not code:
            self.error = AuthFailedError("the authorization response carries no code")
            return False, "The response carries no authorization code."
        try:
            self.result = self._exchange(code)
        except FabricError as exc:
            self.error = exc
            return False, f"Exchanging the authorization code failed: {exc.message}"
        return True, "You can close this tab and return to your terminal."

    def wait(self, timeout_s: float) -> T:
        """Serve until the callback arrives and is exchanged; return the exchange's result."""
        deadline = time.monotonic() + timeout_s
        while not self._finished.is_set():
            if time.monotonic() >= deadline:
                raise FabricTimeoutError(
                    f"no sign-in arrived within {timeout_s:.0f} s; run auth login again "
                    "(or use --device on a machine without a browser)"
                )
            self._httpd.handle_request()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result

    def close(self) -> None:
        self._httpd.server_close()

    def __enter__(self) -> CallbackServer[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
