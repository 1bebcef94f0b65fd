"""Recording mode: capture a real provider's answers once, replay them in every later run.

A ``Cassette`` is a loopback server that stands where the provider's ``base_url`` would be. In
record mode it forwards each request to the real provider and writes what came back to a JSON
fixture; in replay mode it answers from that fixture, strictly (a request that was not recorded,
or a recorded one that never comes, fails ``verify()``). Secrets never reach the fixture:
credential headers are dropped, their values and any ``secrets=`` you pass are replaced wherever
they appear, and JSON fields named like a secret are blanked. The provider's own URL is stored as
``{{base_url}}`` so pagination links replay against the loopback server.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from cuervo_fabric.testing._loopback import LoopbackServer, RecordedRequest, Reply

__all__ = ["SCRUBBED", "Cassette"]

#: What a scrubbed value reads as in a fixture.
SCRUBBED = "[SCRUBBED]"
_BASE = "{{base_url}}"
_SECRET_NAME = re.compile(
    r"(token|secret|passw|api[-_]?key|apikey|authorization|cookie|signature|session|credential|private[-_]?key)",
    re.IGNORECASE,
)
_HOP_HEADERS = {
    "connection",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "keep-alive",
    "date",
    "server",
}


def _credential_values(headers: dict[str, str]) -> list[str]:
    """Secret values a request carried in its credential headers (``Bearer x`` gives ``x`` too)."""
    found: list[str] = []
    for name, value in headers.items():
        if _SECRET_NAME.search(name) or name in ("x-api-key", "api-key"):
            found.append(value)
            scheme, _, rest = value.partition(" ")
            if rest and scheme.lower() in ("bearer", "token", "basic"):
                found.append(rest)
                if scheme.lower() == "basic":
                    try:
                        decoded = base64.b64decode(rest).decode()
                    except (ValueError, UnicodeDecodeError):
                        continue
                    found += [decoded, *decoded.split(":", 1)]
    return [v for v in found if len(v) >= 4]


def _scrub_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (SCRUBBED if _SECRET_NAME.search(str(k)) and isinstance(v, str | int) else _scrub_json(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_scrub_json(v) for v in value]
    return value


class Cassette:
    r"""Record a provider's responses to a fixture file, or replay them with secrets scrubbed.

    Args:
        path: the JSON fixture (created in record mode).
        upstream: the real provider's base URL (needed to record).
        record: ``True`` records, ``False`` replays; ``None`` (default) records when
            ``CUERVO_FABRIC_RECORD=1`` is set or the fixture does not exist yet, else replays.
        secrets: more values to scrub (client secrets, account ids, ...).

    Example:
        >>> from cuervo_fabric.testing import Cassette, FabricHarness
        >>> with Cassette("tests/cassettes/repos.json", upstream="https://api.github.com") as tape, \\
        ...         FabricHarness(tmp_path) as fabric:  # doctest: +SKIP
        ...     inst = fabric.install("github", {"base_url": tape.url}, credential=os.environ["GH_TOKEN"])
        ...     assert fabric.exec(inst, "repo.list").success
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        upstream: str | None = None,
        record: bool | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        self.path = Path(path)
        self.upstream = upstream.rstrip("/") if upstream else None
        if record is None:
            record = os.environ.get("CUERVO_FABRIC_RECORD") == "1" or not self.path.exists()
        if record and not self.upstream:
            raise ValueError(f"{self.path} does not exist and no upstream URL was given to record from")
        self.recording = record
        self.secrets = [s for s in secrets if s]
        self.interactions: list[dict[str, Any]] = []
        self.unexpected: list[str] = []
        self._used: set[int] = set()
        self._lock = threading.Lock()
        self._server = LoopbackServer(handler=self._record if record else self._replay)
        self._client: Any = None
        if not record:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self.interactions = list(data.get("interactions", []))

    @property
    def url(self) -> str:
        """The base URL to give the connector instead of the provider's."""
        return self._server.url

    @property
    def mode(self) -> str:
        """``"record"`` or ``"replay"``."""
        return "record" if self.recording else "replay"

    # ------------------------------------------------------------------ scrubbing
    def _scrub_text(self, text: str, extra: Iterable[str] = ()) -> str:
        for value in sorted({*self.secrets, *extra}, key=len, reverse=True):
            text = text.replace(value, SCRUBBED)
        if self.upstream:
            text = text.replace(self.upstream, _BASE)
        return text.replace(self.url, _BASE)

    def _body_for_file(self, raw: bytes, content_type: str, found: list[str]) -> dict[str, Any]:
        if "json" in content_type:
            try:
                return {"json": json.loads(self._scrub_text(json.dumps(_scrub_json(json.loads(raw))), found))}
            except (ValueError, UnicodeDecodeError):
                pass
        try:
            return {"text": self._scrub_text(raw.decode("utf-8"), found)}
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(raw).decode()}

    # ------------------------------------------------------------------ record
    def _record(self, req: RecordedRequest) -> Reply:
        import httpx

        with self._lock:
            if self._client is None:
                self._client = httpx.Client(base_url=self.upstream or "", timeout=60.0)
        headers = {
            k: v for k, v in req.headers.items() if k not in ("host", "content-length", "accept-encoding")
        }
        query = [(k, v) for k, vs in req.query.items() for v in vs]
        try:
            resp = self._client.request(req.method, req.path, params=query, headers=headers, content=req.body)
        except httpx.HTTPError as exc:
            return Reply(
                502, {"message": f"recording proxy could not reach the provider: {type(exc).__name__}"}
            )
        found = _credential_values(req.headers)
        out_headers = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP_HEADERS}
        content_type = resp.headers.get("content-type", "")
        entry = {
            "request": {
                "method": req.method,
                "path": req.path,
                "query": {
                    k: [SCRUBBED if _SECRET_NAME.search(k) else self._scrub_text(v, found) for v in vs]
                    for k, vs in req.query.items()
                },
                "body": self._body_for_file(req.body, req.headers.get("content-type", ""), found)
                if req.body
                else None,
            },
            "response": {
                "status": resp.status_code,
                "headers": {
                    k: self._scrub_text(v, found)
                    for k, v in out_headers.items()
                    if not _SECRET_NAME.search(k) and k.lower() != "set-cookie"
                },
                "body": self._body_for_file(resp.content, content_type, found),
            },
        }
        with self._lock:
            self.interactions.append(entry)
        live_headers = {k: v.replace(self.upstream or "\0", self.url) for k, v in out_headers.items()}
        body = resp.content.replace((self.upstream or "\0").encode(), self.url.encode())
        return Reply(resp.status_code, body, live_headers)

    def save(self) -> None:
        """Write the recorded interactions to ``path`` (done when the ``with`` block ends)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"version": 1, "interactions": self.interactions}
        self.path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    # ------------------------------------------------------------------ replay
    def _matches(self, recorded: dict[str, Any], req: RecordedRequest) -> bool:
        if recorded["method"] != req.method or recorded["path"] != req.path:
            return False
        want: dict[str, list[str]] = recorded.get("query") or {}
        if set(want) != set(req.query):
            return False
        for key, values in want.items():
            got = req.query[key]
            if len(values) != len(got):
                return False
            for w, g in zip(values, got, strict=True):
                if SCRUBBED in w:
                    continue
                if w.replace(_BASE, self.url) != g:
                    return False
        return True

    def _replay(self, req: RecordedRequest) -> Reply:
        with self._lock:
            for index, entry in enumerate(self.interactions):
                if index not in self._used and self._matches(entry["request"], req):
                    self._used.add(index)
                    return self._reply_from(entry["response"])
            query = urlencode([(k, v) for k, vs in req.query.items() for v in vs])
            self.unexpected.append(f"{req.method} {req.path}" + (f"?{query}" if query else ""))
        return Reply(
            501, {"message": f"cassette {self.path.name}: no recorded answer for {req.method} {req.path}"}
        )

    def _reply_from(self, response: dict[str, Any]) -> Reply:
        headers = {k: str(v).replace(_BASE, self.url) for k, v in (response.get("headers") or {}).items()}
        body = response.get("body") or {}
        if "json" in body:
            payload: bytes = json.dumps(body["json"]).replace(_BASE, self.url).encode()
        elif "text" in body:
            payload = str(body["text"]).replace(_BASE, self.url).encode()
        elif "base64" in body:
            payload = base64.b64decode(body["base64"])
        else:
            payload = b""
        return Reply(int(response["status"]), payload, headers)

    def problems(self) -> list[str]:
        """What ``verify()`` would complain about (replay mode: strict, like ``MockProvider``)."""
        if self.recording:
            return []
        out = [f"request not in the cassette: {u}" for u in self.unexpected]
        for index, entry in enumerate(self.interactions):
            if index not in self._used:
                req = entry["request"]
                out.append(f"recorded request never replayed: {req['method']} {req['path']}")
        return out

    def verify(self) -> None:
        """Fail when replay saw a request that was not recorded, or a recorded one never came.

        Example:
            >>> tape.verify()  # doctest: +SKIP
        """
        problems = self.problems()
        if problems:
            raise AssertionError(f"cassette {self.path} does not match:\n  " + "\n  ".join(problems))

    def __enter__(self) -> Cassette:
        self._server.start()
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            self._server.stop()
            if self._client is not None:
                self._client.close()
            if self.recording and exc_type is None:
                self.save()
            elif exc_type is None:
                self.verify()
        finally:
            self._client = None
