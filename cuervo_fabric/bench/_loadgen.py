"""A load generator for ``bench webhooks``: many keep-alive connections from one asyncio process.

``python -m cuervo_fabric.bench._loadgen URL SECRET_FILE SECONDS CONNECTIONS PREFIX`` POSTs
distinct GitHub-signed deliveries (ids ``PREFIX-<n>``) for SECONDS over CONNECTIONS connections,
each request waiting for its answer, and prints one JSON line: ``{"ok", "failed", "seconds"}``.
Each request is a few microseconds of signing; the rest of the generator's time is sockets.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sys
import time
from urllib.parse import urlsplit

__all__ = ["main"]


_PAD = "x" * 600


def _request(path: str, host: str, secret: bytes, delivery: str, n: int) -> bytes:
    body = f'{{"action":"opened","number":{n},"pull_request":{{"title":"bench","body":"{_PAD}"}}}}'.encode()
    sig = hmac.new(secret, body, hashlib.sha256).hexdigest()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"X-GitHub-Event: pull_request\r\nX-GitHub-Delivery: {delivery}\r\n"
        f"X-Hub-Signature-256: sha256={sig}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _client(
    url: str, secret: bytes, prefix: str, counter: list[int], deadline: float, tally: dict[str, int]
) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            n = counter[0]
            counter[0] += 1
            writer.write(_request(parts.path, f"{host}:{port}", secret, f"{prefix}-{n}", n))
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            status = int(status_line.split()[1])
            tally["ok" if 200 <= status < 300 else "failed"] += 1
    finally:
        writer.close()


async def _run(url: str, secret: bytes, seconds: float, connections: int, prefix: str) -> dict[str, float]:
    tally = {"ok": 0, "failed": 0}
    counter = [0]
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(_client(url, secret, prefix, counter, deadline, tally) for _ in range(connections))
    )
    return {"ok": tally["ok"], "failed": tally["failed"], "seconds": time.perf_counter() - started}


def main() -> None:
    url, secret_file, seconds, connections, prefix = sys.argv[1:6]
    with open(secret_file, encoding="utf-8") as fh:
        secret = fh.read().strip().encode()
    result = asyncio.run(_run(url, secret, float(seconds), int(connections), prefix))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
