"""A lean HTTP/1.1 keep-alive server on loopback, for benchmarks.

Each response leaves in one ``sendall`` with ``TCP_NODELAY`` set, so no benchmark waits on Nagle's
algorithm and delayed ACKs (40 ms a request with a server that writes headers and body apart).
Every request gets the same small JSON answer, plus ``X-RateLimit-*`` headers like a real API.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from typing import Any

__all__ = ["BenchServer", "main", "spawn"]

_BODY = b'{"ok":true,"items":[1,2,3]}'


def _response(now: float) -> bytes:
    head = (
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(_BODY)}\r\n"
        "X-RateLimit-Limit: 5000\r\n"
        "X-RateLimit-Remaining: 4999\r\n"
        f"X-RateLimit-Reset: {int(now) + 3600}\r\n"
        "\r\n"
    )
    return head.encode() + _BODY


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head, _, rest = buf.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            while len(rest) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                rest += chunk
            buf = rest[length:]
            self.server.hits += 1  # type: ignore[attr-defined]
            sock.sendall(_response(time.time()))


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    hits = 0


class BenchServer:
    """``with BenchServer() as url: ...``: serves until the block ends."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def hits(self) -> int:
        return self._server.hits

    def __enter__(self) -> BenchServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def main() -> None:
    """``python -m cuervo_fabric.bench._server``: print the URL, serve until stdin closes."""
    import sys

    with BenchServer() as server:
        sys.stdout.write(server.url + "\n")
        sys.stdout.flush()
        sys.stdin.read()


def spawn() -> tuple[Any, str]:
    """Run the server in its own process (as a provider would be); returns ``(process, url)``.

    Close the process's stdin to stop it.
    """
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "cuervo_fabric.bench._server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://"):
        proc.kill()
        raise RuntimeError("the benchmark server did not start")
    return proc, url


if __name__ == "__main__":
    main()
