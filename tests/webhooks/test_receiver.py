"""The receiver over real HTTP: `serve` verifies, deduplicates, stores, then answers."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.helpers import cli, db_snapshot
from tests.webhooks._support import github_endpoint, github_headers, serving


def test_a_signed_delivery_is_stored_once_and_a_redelivery_is_deduplicated(home: Path):
    """A verified delivery is answered 202 once logged; the same delivery id again is 200, not a new event."""
    ep = github_endpoint()
    body = json.dumps({"action": "opened", "number": 7, "pull_request": {"title": "Fix"}}).encode()
    headers = github_headers(ep["secret"], body, delivery="delivery-1")
    with serving(home, "--no-deliver") as (url, _):
        first = httpx.post(url + ep["path"], content=body, headers=headers)
        again = httpx.post(url + ep["path"], content=body, headers=headers)
    assert first.status_code == 202, first.text
    assert first.json()["accepted"] is True
    assert first.json()["eventType"] == "github.pull_request.opened"
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["eventId"] == first.json()["eventId"]
    events = cli("--json", "events", "list").json()
    assert len(events) == 1
    ev = events[0]
    assert ev["id"] == first.json()["eventId"]
    assert ev["type"] == "github.pull_request.opened"
    assert ev["source"] == ep["instanceId"]
    assert ev["data"]["pull_request"] == {"title": "Fix"}
    assert ev["metadata"]["originalWebhookId"] == "delivery-1"
    shown = cli("--json", "webhooks", "endpoints", "gh").json()
    assert shown["totalReceived"] == 1
    assert shown["url"].endswith(ep["path"])


def test_refused_requests_get_the_right_status_and_write_nothing(home: Path):
    """Bad signature 401, unknown endpoint 404, oversized 413, malformed 400, GET 405: nothing written."""
    ep = github_endpoint()
    secret, path = ep["secret"], ep["path"]
    body = b'{"action":"opened"}'
    good = github_headers(secret, body)
    instance_id, token = path.split("/")[2:4]
    big = b'{"pad":"' + b"x" * 5000 + b'"}'
    not_json = b"this is not json"
    cases = [
        (401, path, body, {**good, "X-Hub-Signature-256": "sha256=" + "0" * 64}),
        (401, path, body, {k: v for k, v in good.items() if k != "X-Hub-Signature-256"}),
        (401, path, body + b" ", good),
        (404, f"/webhooks/{'f' * 32}/{token}", body, good),
        (404, f"/webhooks/{instance_id}/wrong-token", body, good),
        (413, path, big, github_headers(secret, big)),
        (400, path, not_json, github_headers(secret, not_json)),
        (400, path, body, {k: v for k, v in github_headers(secret, body).items() if k != "X-GitHub-Event"}),
        (400, path, b"", github_headers(secret, b"")),
    ]
    before = db_snapshot(home)
    with serving(home, "--no-deliver", "--max-body-bytes", "4096") as (url, _):
        for status, where, content, headers in cases:
            resp = httpx.post(url + where, content=content, headers=headers)
            assert resp.status_code == status, (status, where, resp.text)
            assert resp.json()["accepted"] is False
        assert httpx.get(url + path).status_code == 405
    assert db_snapshot(home) == before
