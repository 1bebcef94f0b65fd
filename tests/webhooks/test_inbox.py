"""The receiver's use case in process: replay windows, provider-issued secrets, failing closed, sealing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from cuervo_fabric.bootstrap import Fabric
from cuervo_fabric.config import load_settings
from cuervo_fabric.errors import InvalidStateError
from cuervo_fabric.sdk import (
    BaseConnector,
    ConnectorCategory,
    ConnectorMetadata,
    IncomingWebhook,
    SlackSignature,
    WebhookSpec,
    header,
)
from tests.helpers import db_snapshot

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


class ChatConnector(BaseConnector):
    """A Slack-like test connector: the provider issues the signing secret."""

    id = "chat-test"
    version = "1.0.0"
    metadata = ConnectorMetadata(
        name="Chat", description="test", category=ConnectorCategory.COMMUNICATION, vendor="test"
    )
    receives_webhooks = True
    webhook = WebhookSpec(
        verifier=SlackSignature(),
        event_type=lambda req: "chat." + req.form().get("command", "none").strip("/"),
        delivery_id=header("X-Chat-Delivery"),
        data=lambda req: req.form(),
    )


class UnverifiedConnector(BaseConnector):
    """Says it receives webhooks but declares no verifier."""

    id = "unverified-test"
    version = "1.0.0"
    metadata = ConnectorMetadata(
        name="U", description="test", category=ConnectorCategory.CUSTOM, vendor="test"
    )
    receives_webhooks = True


@pytest.fixture
def fabric(home: Path) -> Any:
    f = Fabric(
        load_settings(),
        extra_connectors={"chat-test": ChatConnector, "unverified-test": UnverifiedConnector},
    )
    yield f
    f.close()


def _slack(body: bytes, ts: int, delivery: str) -> dict[str, str]:
    return {"X-Chat-Delivery": delivery, **SlackSignature().sign(SLACK_SECRET, body, timestamp=ts)}


def test_a_provider_issued_secret_verifies_and_stale_requests_are_refused(fabric: Any, home: Path):
    """With Slack's own secret, a fresh request is stored; one outside 300 s is 401 and writes nothing."""
    inst = fabric.lifecycle.install(fabric.tenant, "chat-test", {})
    ep = fabric.webhooks.endpoint(inst, base_url="http://x", provided_secret=SLACK_SECRET)
    assert ep["secretSource"] == "provided"
    token = ep["url"].rsplit("/", 1)[1]
    body = b"command=%2Fdeploy&text=api"
    inbox = fabric.webhook_inbox()
    try:
        before = db_snapshot(home)
        stale = IncomingWebhook.build(_slack(body, int(time.time()) - 301, "d-1"), body, instance_id=inst.id)
        [refused] = inbox.receive_batch([(stale, token)])
        assert (refused.status, refused.accepted) == (401, False)
        assert "replay window" in (refused.error or "")
        assert db_snapshot(home) == before
        fresh = IncomingWebhook.build(_slack(body, int(time.time()), "d-2"), body, instance_id=inst.id)
        [ok] = inbox.receive_batch([(fresh, token)])
    finally:
        inbox.close()
    assert (ok.status, ok.event_type) == (202, "chat.deploy")
    stored = fabric.events.get(fabric.tenant, ok.event_id)
    assert stored.event.data == {"command": "/deploy", "text": "api"}


def test_one_batch_deduplicates_within_itself_and_rejects_only_the_bad(fabric: Any):
    """In one group commit a repeated delivery id is one event; a bad request spoils nothing else."""
    inst = fabric.lifecycle.install(fabric.tenant, "chat-test", {})
    token = fabric.webhooks.endpoint(inst, base_url="http://x", provided_secret=SLACK_SECRET)["url"].rsplit(
        "/", 1
    )[1]
    now = int(time.time())
    body = b"command=%2Fping"
    good = IncomingWebhook.build(_slack(body, now, "same"), body, instance_id=inst.id)
    bad = IncomingWebhook.build(
        {**_slack(body, now, "other"), "X-Slack-Signature": "v0=00"}, body, instance_id=inst.id
    )
    inbox = fabric.webhook_inbox()
    try:
        results = inbox.receive_batch([(good, token), (bad, token), (good, token)])
    finally:
        inbox.close()
    assert [r.status for r in results] == [202, 401, 200]
    assert results[0].event_id == results[2].event_id
    assert len(fabric.events.list_events(fabric.tenant)) == 1


def test_a_connector_without_a_verifier_fails_closed(fabric: Any):
    """Registering an endpoint for a connector that declares no verifier is refused."""
    inst = fabric.lifecycle.install(fabric.tenant, "unverified-test", {})
    with pytest.raises(InvalidStateError, match="no verifier"):
        fabric.webhooks.endpoint(inst, base_url="http://x")


def test_an_uninstalled_or_deregistered_instance_stops_receiving(fabric: Any):
    """After uninstall (or removing the endpoint) its URL answers 404."""
    inst = fabric.lifecycle.install(fabric.tenant, "chat-test", {})
    token = fabric.webhooks.endpoint(inst, base_url="http://x", provided_secret=SLACK_SECRET)["url"].rsplit(
        "/", 1
    )[1]
    body = b"command=%2Fping"
    req = IncomingWebhook.build(_slack(body, int(time.time()), "d"), body, instance_id=inst.id)
    fabric.lifecycle.uninstall(fabric.tenant, inst.id)
    inbox = fabric.webhook_inbox()
    try:
        assert inbox.receive_batch([(req, token)])[0].status == 404
    finally:
        inbox.close()
    other = fabric.lifecycle.install(fabric.tenant, "chat-test", {}, name="chat2")
    token = fabric.webhooks.endpoint(other, base_url="http://x", provided_secret=SLACK_SECRET)["url"].rsplit(
        "/", 1
    )[1]
    assert fabric.webhooks.remove_endpoint(other) is True
    inbox = fabric.webhook_inbox()
    try:
        req = IncomingWebhook.build(_slack(body, int(time.time()), "e"), body, instance_id=other.id)
        assert inbox.receive_batch([(req, token)])[0].status == 404
    finally:
        inbox.close()


def test_endpoint_secrets_are_sealed_and_a_new_token_retires_the_old_url(fabric: Any, home: Path):
    """Neither the secret nor the URL token is in the database file; --new-token changes the URL."""
    inst = fabric.lifecycle.install(fabric.tenant, "chat-test", {})
    first = fabric.webhooks.endpoint(inst, base_url="http://x", provided_secret=SLACK_SECRET)
    token = first["url"].rsplit("/", 1)[1]
    raw = b"".join(p.read_bytes() for p in home.glob("fabric.db*"))
    assert SLACK_SECRET.encode() not in raw
    assert token.encode() not in raw
    again = fabric.webhooks.endpoint(inst, base_url="http://x")
    assert (again["url"], again["secret"], again["changed"]) == (first["url"], SLACK_SECRET, False)
    renewed = fabric.webhooks.endpoint(inst, base_url="http://x", new_token=True)
    assert renewed["url"] != first["url"]
    assert renewed["secret"] == SLACK_SECRET


def test_webhook_secrets_survive_a_master_key_rotation(fabric: Any, monkeypatch: pytest.MonkeyPatch):
    """The sealed endpoint and subscription secrets re-wrap under a new master key and still open."""
    import base64

    from cuervo_fabric.config import load_settings as settings

    inst = fabric.lifecycle.install(fabric.tenant, "chat-test", {})
    ep = fabric.webhooks.endpoint(inst, base_url="http://x", provided_secret=SLACK_SECRET)
    sub, whsec = fabric.webhooks.create(fabric.tenant, "https://93.184.216.34/hook", ["*"])
    store = fabric.event_store
    new_key = b"n" * 32
    fabric.vault.rotate(store.iter_sealed(), store.replace_sealed, new_key=new_key)
    monkeypatch.setenv("CUERVO_FABRIC_KEY", base64.b64encode(new_key).decode())
    fresh = Fabric(settings(), extra_connectors={"chat-test": ChatConnector})
    try:
        again = fresh.webhooks.endpoint(fresh.lifecycle.resolve(fresh.tenant, inst.id), base_url="http://x")
        assert (again["secret"], again["url"]) == (SLACK_SECRET, ep["url"])
        assert fresh.webhooks.open_secrets(fresh.webhooks.get(fresh.tenant, sub.id))[0] == [whsec]
    finally:
        fresh.close()
