"""Outgoing webhooks end to end: signing, sealing, retries on a stored schedule, DLQ, 410, redirects."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from cuervo_fabric.domain.subscriptions import SVIX_BACKOFF_MS
from cuervo_fabric.sdk import IncomingWebhook, StandardWebhooks
from cuervo_fabric.testing import LoopbackServer, RecordedRequest, Reply
from tests.helpers import cli, db_snapshot
from tests.webhooks._support import allow_private_targets


def _create(url: str, *extra: str) -> dict[str, Any]:
    out = cli("--json", "webhooks", "create", "--url", url, *extra)
    assert out.exit_code == 0, out.stdout + out.stderr
    return dict(out.json())


def _publish(event_type: str, data: dict[str, Any] | None = None) -> str:
    out = cli("--json", "events", "publish", event_type, "-d", json.dumps(data or {}))
    assert out.exit_code == 0, out.stderr
    return str(out.json()["id"])


def _deliver(*extra: str) -> dict[str, Any]:
    out = cli("--json", "webhooks", "deliver", *extra)
    assert out.exit_code == 0, out.stdout + out.stderr
    return dict(out.json())


def _verify(secret: str, req: RecordedRequest) -> None:
    StandardWebhooks().verify(secret, IncomingWebhook.build(req.headers, req.body))


def test_deliveries_are_signed_per_standard_webhooks_and_secrets_stay_sealed(home: Path, tmp_path: Path):
    """Matching events arrive signed with the whsec_ secret shown once; no secret is stored in clear."""
    allow_private_targets()
    (tmp_path / "team").write_text("tok-123\n")
    with LoopbackServer() as server:
        server.route("POST", "/hook", Reply(200, {"ok": True}))
        sub = _create(
            server.url + "/hook", "--events", "github.*", "--header", f"X-Team=@{tmp_path / 'team'}"
        )
        secret = sub["secret"]
        assert secret.startswith("whsec_")
        listed = cli("--json", "webhooks", "list").stdout
        assert secret not in listed
        assert json.loads(listed)[0]["headers"] == ["X-Team"]
        ids = {_publish("github.push", {"n": 1}), _publish("github.pull_request.opened", {"n": 2})}
        _publish("gitlab.push")
        stats = _deliver()
        got = server.calls("POST", "/hook")
    assert (stats["attempted"], stats["delivered"]) == (2, 2)
    assert {r.headers["webhook-id"] for r in got} == ids
    for req in got:
        _verify(secret, req)
        assert req.headers["x-team"] == "tok-123"
        body = req.json()
        assert body["id"] == req.headers["webhook-id"]
        assert body["type"].startswith("github.")
        assert body["metadata"]["deliveryAttempt"] == 1
    raw = b"".join(p.read_bytes() for p in home.glob("fabric.db*"))
    assert secret.encode() not in raw
    assert b"tok-123" not in raw
    log = cli("--json", "webhooks", "deliveries", sub["id"]).json()
    assert len(log) == 2
    assert all(
        a["success"] and a["responseStatus"] == 200 and a["responseBody"] == '{"ok": true}' for a in log
    )
    assert all(a["requestHeaders"]["X-Team"] == "(sealed)" for a in log)


def test_private_targets_are_refused_unless_allowed_in_config(home: Path):
    """Loopback, private and link-local URLs are PERMISSION_DENIED and change nothing, unless allowed."""
    before = db_snapshot(home)
    for url in (
        "http://127.0.0.1:9/x",
        "http://localhost:9/x",
        "http://10.1.2.3/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9/x",
        "http://[::ffff:127.0.0.1]/x",
    ):
        out = cli("--json", "webhooks", "create", "--url", url, "--events", "*")
        assert out.exit_code == 8, (url, out.stdout)
        assert out.error["code"] == "PERMISSION_DENIED"
    assert cli("--json", "webhooks", "create", "--url", "ftp://example.com/x", "--events", "*").exit_code == 2
    assert db_snapshot(home) == before
    allow_private_targets()
    assert (
        cli("--json", "webhooks", "create", "--url", "http://127.0.0.1:9/x", "--events", "*").exit_code == 0
    )


def test_a_failing_endpoint_receives_every_event_after_it_recovers(home: Path):
    """5xx answers and timeouts are retried on the schedule; once the endpoint is back every event arrives."""
    allow_private_targets()
    mode = {"ok": False}
    lock = threading.Lock()
    seen = {"n": 0}

    def answer(req: RecordedRequest) -> Reply:
        with lock:
            seen["n"] += 1
            n = seen["n"]
        if mode["ok"]:
            return Reply(200, {"ok": True})
        return Reply(503) if n % 2 else Reply(200, delay_s=1.0)  # every other one times out

    with LoopbackServer() as server:
        server.route("POST", "/hook", answer)
        sub = _create(
            server.url + "/hook",
            "--events",
            "*",
            "--schedule",
            "0.2s",
            "--max-retries",
            "50",
            "--timeout",
            "0.3s",
        )
        ids = {_publish("deploy.finished", {"i": i}) for i in range(8)}
        first = _deliver()
        assert (first["attempted"], first["delivered"]) == (8, 0)
        mode["ok"] = True
        second = _deliver("--until-idle", "--max-seconds", "30")
        received = list(server.calls("POST", "/hook"))
    delivered = {r.headers["webhook-id"] for r in received if r.json()["metadata"]["deliveryAttempt"] >= 2}
    assert delivered == ids
    assert second["delivered"] == 8
    errors = {a["error"] for a in cli("--json", "webhooks", "deliveries", sub["id"], "--limit", "100").json()}
    assert "HTTP 503" in errors
    assert "timed out after 0.3 s" in errors
    assert None in errors


def test_an_endpoint_that_keeps_failing_ends_in_the_dlq_and_dlq_retry_delivers_it(home: Path):
    """After maxRetries the delivery is dead-lettered; `events dlq retry` then gets it delivered."""
    allow_private_targets()
    with LoopbackServer() as server:
        server.route("POST", "/hook", Reply(500, "down"))
        _create(server.url + "/hook", "--events", "*", "--schedule", "0s", "--max-retries", "2")
        eid = _publish("deploy.finished")
        stats = _deliver("--until-idle", "--max-seconds", "30")
        assert (stats["attempted"], stats["deadLettered"]) == (3, 1)
        dead = cli("--json", "events", "dlq", "list").json()
        assert [(d["eventId"], d["attempts"], d["lastError"]) for d in dead] == [(eid, 3, "HTTP 500")]
        server.route("POST", "/hook", Reply(204))
        assert _deliver()["attempted"] == 0
        assert cli("--json", "events", "dlq", "retry", "--all").json() == {"retried": 1}
        assert _deliver()["delivered"] == 1
        assert server.calls("POST", "/hook")[-1].headers["webhook-id"] == eid
    assert cli("--json", "events", "dlq", "list").json() == []


def test_410_gone_disables_the_webhook_and_redirects_are_not_followed(home: Path):
    """A 410 turns the subscription off; a 302 is a failed attempt and its Location is never fetched."""
    allow_private_targets()
    with LoopbackServer() as server:
        server.route("POST", "/gone", Reply(410))
        server.route("POST", "/moved", Reply(302, headers={"Location": "/elsewhere"}))
        gone = _create(server.url + "/gone", "--events", "*")
        moved = _create(server.url + "/moved", "--events", "*")
        _publish("a.b")
        _deliver()
        _publish("a.c")
        _deliver()
        assert len(server.calls("POST", "/gone")) == 1
        assert server.calls("GET", "/elsewhere") == []
        assert server.calls("POST", "/elsewhere") == []
    listed = {w["id"]: w for w in cli("--json", "webhooks", "list").json()}
    assert listed[gone["id"]]["active"] is False
    assert "410" in listed[gone["id"]]["disabledReason"]
    assert listed[moved["id"]]["active"] is True
    moved_log = cli("--json", "webhooks", "deliveries", moved["id"]).json()
    assert {a["error"] for a in moved_log} == {"HTTP 302"}


def test_the_default_schedule_is_svix_like_with_jitter_and_stored(home: Path):
    """A first failure is retried about 5 s later (±20 %), stored on the delivery: the Svix schedule."""
    allow_private_targets()
    with LoopbackServer() as server:
        server.route("POST", "/hook", Reply(500))
        sub = _create(server.url + "/hook", "--events", "*")
        _publish("x.y")
        started = time.time()
        _deliver()
    assert sub["retryPolicy"] == {"maxRetries": 7, "backoffMs": list(SVIX_BACKOFF_MS), "jitter": 0.2}
    conn = sqlite3.connect(home / "fabric.db")
    try:
        status, attempts, next_at = conn.execute(
            "SELECT status, attempts, next_attempt_at FROM event_deliveries"
        ).fetchone()
    finally:
        conn.close()
    assert (status, attempts) == ("pending", 1)
    assert started + 4.0 <= next_at <= time.time() + 6.0


def test_a_rotated_secret_signs_alongside_the_old_one_during_the_grace(home: Path):
    """After rotate-secret both secrets sign (two v1 signatures); with --grace 0 only the newest does."""
    allow_private_targets()
    with LoopbackServer() as server:
        server.route("POST", "/hook", Reply(200))
        sub = _create(server.url + "/hook", "--events", "*")
        rotated = cli("--json", "webhooks", "rotate-secret", sub["id"], "--grace", "1h").json()
        _publish("a.b")
        _deliver()
        both = server.calls("POST", "/hook")[-1]
        final = cli("--json", "webhooks", "rotate-secret", sub["id"][:8], "--grace", "0").json()
        _publish("a.c")
        _deliver()
        only = server.calls("POST", "/hook")[-1]
    assert len(both.headers["webhook-signature"].split()) == 2
    _verify(sub["secret"], both)
    _verify(rotated["secret"], both)
    assert len(only.headers["webhook-signature"].split()) == 1
    _verify(final["secret"], only)


def test_webhooks_test_posts_one_signed_test_event(home: Path):
    """`webhooks test` sends webhook.test now, logs it, and exits 11 when the endpoint fails."""
    allow_private_targets()
    with LoopbackServer() as server:
        server.route("POST", "/hook", [Reply(200, {"hi": 1}), Reply(500)])
        sub = _create(server.url + "/hook", "--events", "github.*")
        ok = cli("--json", "webhooks", "test", sub["id"])
        bad = cli("--json", "webhooks", "test", sub["id"])
        req = server.calls("POST", "/hook")[0]
    assert ok.exit_code == 0
    assert ok.json()["eventType"] == "webhook.test"
    assert bad.exit_code == 11
    assert bad.json()["responseStatus"] == 500
    _verify(sub["secret"], req)
    assert len(cli("--json", "webhooks", "deliveries", sub["id"]).json()) == 2
