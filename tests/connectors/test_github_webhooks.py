"""GitHub's recorded webhook deliveries verify (X-Hub-Signature-256) and route to github.<event>.<action>."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cuervo_fabric_github.connector import GitHubConnector

from cuervo_fabric.sdk import IncomingWebhook, WebhookSignatureError
from tests.connectors.conftest import install
from tests.helpers import cli

SECRET = "It's a Secret to Everybody"


def deliveries(examples: list[dict[str, Any]]) -> list[tuple[dict[str, str], bytes, str]]:
    """Every recorded example as (headers, raw body, expected event type), signed with SECRET."""
    out = []
    for group in examples:
        for payload in group["examples"]:
            body = json.dumps(payload, separators=(",", ":")).encode()
            headers = {
                "Content-Type": "application/json",
                "X-GitHub-Event": group["name"],
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "User-Agent": "GitHub-Hookshot/test",
                **GitHubConnector.webhook.verifier.sign(SECRET, body),
            }
            action = payload.get("action")
            expected = f"github.{group['name']}.{action}" if action else f"github.{group['name']}"
            out.append((headers, body, expected))
    return out


def test_every_recorded_example_verifies_and_routes(github_webhook_examples: list[dict[str, Any]]) -> None:
    """All 329 recorded deliveries verify with the secret, route to their event type, and carry their id."""
    spec = GitHubConnector.webhook
    signed = deliveries(github_webhook_examples)
    assert len(signed) >= 300
    for headers, body, expected in signed:
        req = IncomingWebhook.build(headers, body)
        spec.verifier.verify(SECRET, req)
        assert spec.event_type(req) == expected
        assert spec.delivery_id(req) == headers["X-GitHub-Delivery"]
        assert spec.data(req) == json.loads(body)


def test_a_changed_body_or_another_secret_fails_verification(
    github_webhook_examples: list[dict[str, Any]],
) -> None:
    """One byte more, or another secret, and the signature no longer verifies."""
    headers, body, _ = deliveries(github_webhook_examples)[0]
    spec = GitHubConnector.webhook
    with pytest.raises(WebhookSignatureError):
        spec.verifier.verify(SECRET, IncomingWebhook.build(headers, body + b" "))
    with pytest.raises(WebhookSignatureError):
        spec.verifier.verify("another secret", IncomingWebhook.build(headers, body))


def test_the_documented_signature_vector() -> None:
    """GitHub's documented vector: `Hello, World!` with `It's a Secret to Everybody`."""
    headers = GitHubConnector.webhook.verifier.sign(SECRET, b"Hello, World!")
    assert headers["X-Hub-Signature-256"] == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_recorded_examples_reach_the_event_log_through_the_receiver(
    github_webhook_examples: list[dict[str, Any]], home: Path
) -> None:
    """Through `cuervo-fabric serve`: every example is stored once as its event type; replays are dropped."""
    import httpx

    from tests.webhooks._support import serving

    install("github", "gh", "https://api.github.com")
    res = cli(
        "--json",
        "webhooks",
        "endpoints",
        "gh",
        "--base-url",
        "http://base",
        "--secret-stdin",
        input=SECRET + "\n",
    )
    assert res.exit_code == 0, res.stdout + res.stderr
    path = res.json()["url"].removeprefix("http://base")
    signed = deliveries(github_webhook_examples)
    with serving(home) as (url, _proc), httpx.Client(base_url=url, timeout=30) as client:

        def post(item: tuple[dict[str, str], bytes, str]) -> tuple[str, int]:
            headers, body, expected = item
            return expected, client.post(path, content=body, headers=headers).status_code

        # concurrent senders, as GitHub's are: the receiver commits them in batches
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(post, signed))
        assert all(status in (200, 202) for _, status in answers), [
            a for a in answers if a[1] not in (200, 202)
        ]
        headers, body, _ = signed[0]
        assert client.post(path, content=body, headers=headers).status_code in (200, 202)
        forged = {**headers, "X-GitHub-Delivery": str(uuid.uuid4())}
        assert client.post(path, content=body + b" ", headers=forged).status_code == 401
    listed = cli("--json", "events", "list", "--type", "github.*", "--limit", "1000")
    assert listed.exit_code == 0, listed.stdout + listed.stderr
    got = Counter(e["type"] for e in listed.json())
    assert got == Counter(expected for _, _, expected in signed)
