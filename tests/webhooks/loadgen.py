"""A webhook sender for the crash test, run as a separate process.

``python loadgen.py URL SECRET_FILE COUNT OUT_FILE [THREADS]`` sends COUNT distinct GitHub-signed
deliveries to URL, retrying each (same delivery id, as GitHub's "redeliver" does) until it gets a
2xx; each 2xx'd delivery is appended to OUT_FILE as ``<delivery id> <event id>``.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import sys
import threading
import time
from urllib.parse import urlsplit


def main() -> int:
    url, secret_file, count, out_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 4
    with open(secret_file, encoding="utf-8") as fh:
        secret = fh.read().strip().encode()
    parts = urlsplit(url)
    todo = list(range(count))
    lock = threading.Lock()
    out = open(out_file, "a", encoding="utf-8")  # noqa: SIM115 - shared by the threads, closed below
    deadline = time.monotonic() + 180

    def worker() -> None:
        conn: http.client.HTTPConnection | None = None
        while True:
            with lock:
                if not todo:
                    break
                n = todo.pop()
            delivery = f"crash-{n:05d}"
            body = json.dumps({"action": "opened", "number": n, "pad": "x" * 200}).encode()
            headers = {
                "Content-Type": "application/json",
                "X-GitHub-Event": "pull_request",
                "X-GitHub-Delivery": delivery,
                "X-Hub-Signature-256": "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest(),
            }
            while time.monotonic() < deadline:
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                    conn.request("POST", parts.path, body, headers)
                    resp = conn.getresponse()
                    answer = resp.read()
                    if 200 <= resp.status < 300:
                        with lock:
                            out.write(f"{delivery} {json.loads(answer)['eventId']}\n")
                            out.flush()
                        break
                except (OSError, http.client.HTTPException):
                    if conn is not None:
                        conn.close()
                    conn = None
                time.sleep(0.05)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
