"""Every provider's signature scheme against its documented vectors, plus round trips and tampering."""

from __future__ import annotations

import json

import pytest

from cuervo_fabric.errors import InvalidInputError
from cuervo_fabric.sdk import (
    SCHEMES,
    GitHubSignature,
    GitLabToken,
    HubSignature,
    IncomingWebhook,
    LinearSignature,
    SlackSignature,
    StandardWebhooks,
    WebhookSignatureError,
    verifier_for_scheme,
)

SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)


def req(headers: dict[str, str], body: bytes) -> IncomingWebhook:
    return IncomingWebhook.build(headers, body)


def test_github_vector_matches_the_documented_signature():
    """GitHub's documented secret and body give the documented X-Hub-Signature-256."""
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    signed = GitHubSignature().sign("It's a Secret to Everybody", b"Hello, World!")
    assert signed == {"X-Hub-Signature-256": expected}
    GitHubSignature().verify(
        "It's a Secret to Everybody", req({"X-Hub-Signature-256": expected}, b"Hello, World!")
    )


def test_github_rejects_a_changed_body_a_wrong_secret_and_sha1():
    """A changed body, another secret, a missing header or the legacy sha1 form fail."""
    good = {"X-Hub-Signature-256": GitHubSignature().sign("s", b"body")["X-Hub-Signature-256"]}
    v = GitHubSignature()
    for secret, headers, body in [
        ("s", good, b"body!"),
        ("t", good, b"body"),
        ("s", {}, b"body"),
        ("s", {"X-Hub-Signature-256": "sha1=" + good["X-Hub-Signature-256"][7:]}, b"body"),
    ]:
        with pytest.raises(WebhookSignatureError):
            v.verify(secret, req(headers, body))


def test_slack_vector_verifies_inside_the_window_only():
    """Slack's documented v0 vector verifies at its own time and fails 301 s later."""
    headers = {
        "X-Slack-Request-Timestamp": "1531420618",
        "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    }
    secret = "8f742231b10e8888abcd99yyyzzz85a5"
    assert SlackSignature().sign(secret, SLACK_BODY, timestamp=1531420618) == headers
    SlackSignature().verify(secret, req(headers, SLACK_BODY), now=1531420618 + 300)
    with pytest.raises(WebhookSignatureError, match="replay window"):
        SlackSignature().verify(secret, req(headers, SLACK_BODY), now=1531420618 + 301)
    with pytest.raises(WebhookSignatureError, match="replay window"):
        SlackSignature().verify(secret, req(headers, SLACK_BODY), now=1531420618 - 301)
    with pytest.raises(WebhookSignatureError):
        SlackSignature().verify(secret, req(headers, SLACK_BODY + b"x"), now=1531420618)


def test_standard_webhooks_vector_and_several_signatures():
    """The Standard Webhooks vector verifies; any one of several v1 signatures is enough."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    v = StandardWebhooks()
    assert v.sign(secret, body, timestamp=1614265330, webhook_id="msg_p5jXN8AQM9LWM0D4loKWxJek") == headers
    v.verify(secret, req(headers, body), now=1614265330)
    other = v.generate_secret()
    both = v.sign_many([other, secret], body, timestamp=1614265330, webhook_id=headers["webhook-id"])
    assert len(both["webhook-signature"].split()) == 2
    v.verify(secret, req(both, body), now=1614265330)
    v.verify(other, req(both, body), now=1614265330)
    with pytest.raises(WebhookSignatureError, match="replay window"):
        v.verify(secret, req(headers, body), now=1614265330 + 301)
    with pytest.raises(WebhookSignatureError):
        v.verify(secret, req({**headers, "webhook-id": "msg_other"}, body), now=1614265330)


def test_linear_signature_and_its_60_second_window():
    """Linear signs the raw body; webhookTimestamp (ms) must be within 60 s."""
    now = 1_700_000_000.0
    v = LinearSignature()
    body = v.prepare_body(b'{"action":"create","type":"Issue","data":{"id":"x"}}', now=now)
    assert json.loads(body)["webhookTimestamp"] == int(now * 1000)
    headers = v.sign("lin_wh_secret", body)
    v.verify("lin_wh_secret", req(headers, body), now=now + 60)
    with pytest.raises(WebhookSignatureError, match="replay window"):
        v.verify("lin_wh_secret", req(headers, body), now=now + 61)
    with pytest.raises(WebhookSignatureError):
        v.verify("lin_wh_secret", req(headers, body + b" "), now=now)
    unstamped = b'{"action":"create"}'
    with pytest.raises(WebhookSignatureError, match="webhookTimestamp"):
        v.verify("lin_wh_secret", req(v.sign("lin_wh_secret", unstamped), unstamped), now=now)


def test_gitlab_token_is_compared_as_is():
    """GitLab's X-Gitlab-Token must equal the secret exactly."""
    v = GitLabToken()
    v.verify("tok", req({"X-Gitlab-Token": "tok"}, b"{}"))
    for headers in ({"X-Gitlab-Token": "tok2"}, {"X-Gitlab-Token": ""}, {}):
        with pytest.raises(WebhookSignatureError):
            v.verify("tok", req(headers, b"{}"))


def test_jira_hub_signature_requires_sha256_or_stronger():
    """Jira's X-Hub-Signature verifies as sha256=<hex>; sha1 and garbage are refused."""
    v = HubSignature()
    headers = v.sign("jira-secret", b'{"webhookEvent":"jira:issue_created"}')
    assert headers["X-Hub-Signature"].startswith("sha256=")
    v.verify("jira-secret", req(headers, b'{"webhookEvent":"jira:issue_created"}'))
    for bad in ("sha1=00", "sha256", "md5=abc"):
        with pytest.raises(WebhookSignatureError):
            v.verify("jira-secret", req({"X-Hub-Signature": bad}, b"{}"))


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_every_scheme_round_trips_and_detects_tampering(scheme: str):
    """What a scheme signs it verifies; a changed body fails (except GitLab, which signs nothing)."""
    v = verifier_for_scheme(scheme)
    secret = v.generate_secret()
    body = v.prepare_body(b'{"hello":"world"}')
    headers = v.sign(secret, body)
    v.verify(secret, req(headers, body))
    with pytest.raises(WebhookSignatureError):
        v.verify(
            v.generate_secret() if scheme != "standard" else StandardWebhooks().generate_secret(),
            req(headers, body),
        )
    if scheme != "gitlab":
        with pytest.raises(WebhookSignatureError):
            v.verify(secret, req(headers, body.replace(b"world", b"World")))


def test_an_unknown_scheme_is_invalid_input():
    """Asking for a scheme that does not exist names the known ones."""
    with pytest.raises(InvalidInputError, match="github"):
        verifier_for_scheme("carrier-pigeon")
