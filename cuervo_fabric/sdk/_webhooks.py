"""Webhook signature schemes and the declaration a connector makes to receive webhooks.

Each verifier checks a provider's signature over the **raw bytes** of the request with a
constant-time comparison, enforces the provider's replay window where the scheme has one, and can
also *sign* a body the same way (for ``cuervo-fabric webhooks sign|send`` and for tests).

A connector that receives webhooks sets ``receives_webhooks = True`` and declares a
:class:`WebhookSpec`; the receiver refuses (fails closed) an instance whose connector declares none.

Example:
    >>> from cuervo_fabric.sdk import GitHubSignature, IncomingWebhook, WebhookSpec, header
    >>> class Acme(BaseConnector):  # doctest: +SKIP
    ...     receives_webhooks = True
    ...     webhook = WebhookSpec(
    ...         verifier=GitHubSignature(),
    ...         event_type=lambda req: "acme." + req.header("X-Acme-Event"),
    ...         delivery_id=header("X-Acme-Delivery"),
    ...     )
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs

from cuervo_fabric.errors import AuthFailedError, InvalidInputError

__all__ = [
    "SCHEMES",
    "GitHubSignature",
    "GitLabToken",
    "HubSignature",
    "IncomingWebhook",
    "LinearSignature",
    "SlackSignature",
    "StandardWebhooks",
    "WebhookPayloadError",
    "WebhookSignatureError",
    "WebhookSpec",
    "WebhookVerifier",
    "describe_delivery",
    "header",
    "json_body",
    "verifier_for_scheme",
]


class WebhookSignatureError(AuthFailedError):
    """The signature is missing or wrong, or the request is outside the replay window (HTTP 401)."""

    http_status: ClassVar[int] = 401


class WebhookPayloadError(InvalidInputError):
    """The request is malformed: a required header is missing or the body does not parse (HTTP 400)."""

    http_status: ClassVar[int] = 400


@dataclass(frozen=True, slots=True)
class IncomingWebhook:
    """A webhook request as it arrived: raw body bytes and headers (names lower-cased).

    Attributes:
        headers: request headers, names lower-cased.
        body: the raw body, exactly as received (signatures cover these bytes).
        instance_id: the connector instance named in the URL.
        method: the HTTP method.
        path: the request path.
        received_at: epoch seconds when the request arrived.
    """

    headers: Mapping[str, str]
    body: bytes
    instance_id: str = ""
    method: str = "POST"
    path: str = ""
    received_at: float = field(default_factory=time.time)
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(cls, headers: Mapping[str, str], body: bytes, **kwargs: Any) -> IncomingWebhook:
        """Build one from any header mapping (names are lower-cased here)."""
        return cls({k.lower(): v for k, v in headers.items()}, body, **kwargs)

    def header(self, name: str, *, required: bool = True) -> str:
        """The value of header ``name`` (any case); a missing required header is a payload error.

        Example:
            >>> req.header("X-GitHub-Event")  # doctest: +SKIP
            'pull_request'
        """
        value = self.headers.get(name.lower())
        if value is None or value == "":
            if required:
                raise WebhookPayloadError(f"missing header {name}", details={"header": name})
            return ""
        return value

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def json(self) -> Any:
        """The body parsed as JSON (cached); a body that is not JSON is a payload error."""
        if "json" not in self._cache:
            try:
                self._cache["json"] = json.loads(self.body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise WebhookPayloadError("the body is not valid JSON") from exc
        return self._cache["json"]

    def form(self) -> dict[str, str]:
        """The body parsed as ``application/x-www-form-urlencoded`` (last value of each field)."""
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WebhookPayloadError("the form body is not UTF-8") from exc
        return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}


def header(name: str) -> Callable[[IncomingWebhook], str]:
    """A ``WebhookSpec.delivery_id`` (or ``event_type``) that reads header ``name``.

    Example:
        >>> delivery_id = header("X-GitHub-Delivery")
    """

    def read(req: IncomingWebhook) -> str:
        return req.header(name)

    read.__name__ = f"header[{name}]"
    return read


def json_body(req: IncomingWebhook) -> dict[str, Any]:
    """The default ``WebhookSpec.data``: the JSON body (a JSON value that is not an object is wrapped)."""
    data = req.json()
    return data if isinstance(data, dict) else {"payload": data}


def _hmac_hex(key: bytes, message: bytes, digest: str = "sha256") -> str:
    return hmac.new(key, message, digest).hexdigest()


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _check_window(timestamp: float, now: float | None, tolerance: float, scheme: str) -> None:
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookSignatureError(
            f"{scheme} timestamp is outside the {int(tolerance)} s replay window",
            details={"reason": "timestamp"},
        )


class WebhookVerifier:
    """A provider's webhook signature scheme. Subclasses implement ``verify`` and ``sign``.

    Example:
        >>> v = GitHubSignature()
        >>> headers = v.sign("s3cret", b"{}")
        >>> v.verify("s3cret", IncomingWebhook.build(headers, b"{}"))
    """

    #: The scheme's name in ``webhooks sign --scheme NAME``.
    scheme: ClassVar[str] = ""
    #: The replay window in seconds (``None``: the scheme carries no timestamp).
    tolerance_s: float | None = None

    def verify(self, secret: str, request: IncomingWebhook, *, now: float | None = None) -> None:
        """Raise ``WebhookSignatureError`` unless ``request`` is signed with ``secret``."""
        raise NotImplementedError

    def sign(
        self,
        secret: str,
        body: bytes,
        *,
        timestamp: int | None = None,
        webhook_id: str | None = None,
    ) -> dict[str, str]:
        """The headers a sender of this scheme adds to ``body``."""
        raise NotImplementedError

    def prepare_body(self, body: bytes, *, now: float | None = None) -> bytes:
        """Adjust a body before signing (Linear puts its timestamp in the body); default: as is."""
        return body

    def generate_secret(self) -> str:
        """A fresh random secret in this scheme's format."""
        return secrets.token_urlsafe(32)

    def envelope(self, *, event: str | None, delivery_id: str) -> dict[str, str]:
        """The provider's other delivery headers (event name, delivery id), for test senders."""
        return {}


class GitHubSignature(WebhookVerifier):
    """GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``; no timestamp.

    Example:
        >>> GitHubSignature().sign("It's a Secret to Everybody", b"Hello, World!")["X-Hub-Signature-256"][:15]
        'sha256=757107e'
    """

    scheme = "github"
    header_name: ClassVar[str] = "X-Hub-Signature-256"

    def verify(self, secret: str, request: IncomingWebhook, *, now: float | None = None) -> None:
        given = request.headers.get(self.header_name.lower(), "")
        method, _, digest = given.partition("=")
        if method != "sha256" or not digest:
            raise WebhookSignatureError(f"missing or malformed {self.header_name}")
        if not _equal(_hmac_hex(secret.encode(), request.body), digest.strip().lower()):
            raise WebhookSignatureError(f"{self.header_name} does not match the body")

    def sign(
        self, secret: str, body: bytes, *, timestamp: int | None = None, webhook_id: str | None = None
    ) -> dict[str, str]:
        return {self.header_name: "sha256=" + _hmac_hex(secret.encode(), body)}

    def envelope(self, *, event: str | None, delivery_id: str) -> dict[str, str]:
        return {"X-GitHub-Event": event or "ping", "X-GitHub-Delivery": delivery_id}


class HubSignature(WebhookVerifier):
    """Jira (and WebSub): ``X-Hub-Signature: <method>=<hex HMAC of the body>``, sha256 or stronger."""

    scheme = "jira"
    header_name: ClassVar[str] = "X-Hub-Signature"
    _METHODS: ClassVar[frozenset[str]] = frozenset({"sha256", "sha384", "sha512"})

    def verify(self, secret: str, request: IncomingWebhook, *, now: float | None = None) -> None:
        given = request.headers.get(self.header_name.lower(), "")
        method, _, digest = given.partition("=")
        method = method.strip().lower()
        if method not in self._METHODS or not digest:
            raise WebhookSignatureError(f"missing or malformed {self.header_name} (sha256 expected)")
        if not _equal(_hmac_hex(secret.encode(), request.body, method), digest.strip().lower()):
            raise WebhookSignatureError(f"{self.header_name} does not match the body")

    def sign(
        self, secret: str, body: bytes, *, timestamp: int | None = None, webhook_id: str | None = None
    ) -> dict[str, str]:
        return {self.header_name: "sha256=" + _hmac_hex(secret.encode(), body)}

    def envelope(self, *, event: str | None, delivery_id: str) -> dict[str, str]:
        return {"X-Atlassian-Webhook-Identifier": delivery_id}


class SlackSignature(WebhookVerifier):
    """Slack: ``X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">`` (300 s window)."""

    scheme = "slack"

    def __init__(self, tolerance_s: float = 300.0) -> None:
        self.tolerance_s = tolerance_s

    def verify(self, secret: str, request: IncomingWebhook, *, now: float | None = None) -> None:
        ts = request.headers.get("x-slack-request-timestamp", "")
        given = request.headers.get("x-slack-signature", "")
        if not ts.isdigit() or not given.startswith("v0="):
            raise WebhookSignatureError("missing or malformed X-Slack-Signature / X-Slack-Request-Timestamp")
        assert self.tolerance_s is not None
        _check_window(int(ts), now, self.tolerance_s, "Slack")
        base = b"v0:" + ts.encode() + b":" + request.body
        if not _equal("v0=" + _hmac_hex(secret.encode(), base), given.strip().lower()):
            raise WebhookSignatureError("X-Slack-Signature does not match the body")

    def sign(
        self, secret: str, body: bytes, *, timestamp: int | None = None, webhook_id: str | None = None
    ) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        digest = _hmac_hex(secret.encode(), b"v0:" + ts.encode() + b":" + body)
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + digest}


class GitLabToken(WebhookVerifier):
    """GitLab: the shared secret itself in ``X-Gitlab-Token``, compared in constant time."""

    scheme = "gitlab"

    def verify(self, secret: str, request: IncomingWebhook, *, now: float | None = None) -> None:
        given = request.headers.get("x-gitlab-token", "")
        if not given or not _equal(secret, given):
            raise WebhookSignatureError("X-Gitlab-Token is missing or wrong")

    def sign(
        self, secret: str, body: bytes, *, timestamp: int | None = None, webhook_id: str | None = None
    ) -> dict[str, str]:
        return {"X-Gitlab-Token": secret}

    def envelope(self, *, event: str | None, delivery_id: str) -> dict[str, str]:
        return {"X-Gitlab-Event": event or "Push Hook", "X-Gitlab-Event-UUID": delivery_id}


class LinearSignature(WebhookVerifier):
    """Linear: ``Linear-Signature: <hex HMAC-SHA256 of the body>``.

    ``webhookTimestamp`` (ms) in the body must be within 60 s.
    """

    scheme = "linear"

    def __init__(self, tolerance_s: float = 60.0) -> None:
        self.tolerance_s = tolerance_s

    def verify(self, secret: str, request: IncomingWebhook, *, now: float | None = None) -> None:
        given = request.headers.get("linear-signature", "")
        if not given:
            raise WebhookSignatureError("missing Linear-Signature")
        if not _equal(_hmac_hex(secret.encode(), request.body), given.strip().lower()):
            raise WebhookSignatureError("Linear-Signature does not match the body")
        try:
            stamp = json.loads(request.body).get("webhookTimestamp")
        except (ValueError, AttributeError, UnicodeDecodeError):
            stamp = None
        if not isinstance(stamp, int | float) or isinstance(stamp, bool):
            raise WebhookSignatureError("the body has no webhookTimestamp", details={"reason": "timestamp"})
        assert self.tolerance_s is not None
        _check_window(stamp / 1000, now, self.tolerance_s, "Linear")

    def sign(
        self, secret: str, body: bytes, *, timestamp: int | None = None, webhook_id: str | None = None
    ) -> dict[str, str]:
        return {"Linear-Signature": _hmac_hex(secret.encode(), body)}

    def envelope(self, *, event: str | None, delivery_id: str) -> dict[str, str]:
        return {"Linear-Event": event or "Issue", "Linear-Delivery": delivery_id}

    def prepare_body(self, body: bytes, *, now: float | None = None) -> bytes:
        """Add ``webhookTimestamp`` (now, in ms) to a JSON object body that lacks it."""
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return body
        if isinstance(data, dict) and "webhookTimestamp" not in data:
            data["webhookTimestamp"] = int((time.time() if now is None else now) * 1000)
            return json.dumps(data, separators=(",", ":")).encode()
        return body


class StandardWebhooks(WebhookVerifier):
    """Standard Webhooks (standardwebhooks.com): id, timestamp and signature headers.

    ``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` (space-separated
    when several secrets sign during a rotation); ``whsec_`` secrets; a 5-minute window.
    """

    scheme = "standard"
    PREFIX: ClassVar[str] = "whsec_"

    def __init__(self, tolerance_s: float = 300.0) -> None:
        self.tolerance_s = tolerance_s

    @classmethod
    def key(cls, secret: str) -> bytes:
        """The HMAC key of a ``whsec_<base64>`` secret."""
        raw = secret[len(cls.PREFIX) :] if secret.startswith(cls.PREFIX) else secret
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInputError("a Standard Webhooks secret is whsec_ followed by base64") from exc

    @classmethod
    def signature(cls, secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
        """``v1,<base64>`` for one secret."""
        content = f"{webhook_id}.{timestamp}.".encode() + body
        return "v1," + base64.b64encode(hmac.new(cls.key(secret), content, "sha256").digest()).decode()

    def verify(self, secret: str, request: IncomingWebhook, *, now: float | None = None) -> None:
        msg_id = request.headers.get("webhook-id", "")
        ts = request.headers.get("webhook-timestamp", "")
        given = request.headers.get("webhook-signature", "")
        if not msg_id or not ts.isdigit() or not given:
            raise WebhookSignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
        assert self.tolerance_s is not None
        _check_window(int(ts), now, self.tolerance_s, "webhook-timestamp")
        expected = self.signature(secret, msg_id, int(ts), request.body)
        if not any(_equal(expected, sig) for sig in given.split() if sig.startswith("v1,")):
            raise WebhookSignatureError("no webhook-signature matches the body")

    def sign(
        self, secret: str, body: bytes, *, timestamp: int | None = None, webhook_id: str | None = None
    ) -> dict[str, str]:
        return self.sign_many([secret], body, timestamp=timestamp, webhook_id=webhook_id)

    def sign_many(
        self, secrets_: list[str], body: bytes, *, timestamp: int | None = None, webhook_id: str | None = None
    ) -> dict[str, str]:
        """Headers signed with every secret (the new one and the old one while a secret rotates)."""
        ts = int(time.time()) if timestamp is None else timestamp
        msg_id = webhook_id or "msg_" + secrets.token_hex(12)
        sigs = " ".join(self.signature(s, msg_id, ts, body) for s in secrets_)
        return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sigs}

    def generate_secret(self) -> str:
        return self.PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


#: Every scheme by name (``webhooks sign --scheme``).
SCHEMES: dict[str, type[WebhookVerifier]] = {
    cls.scheme: cls
    for cls in (GitHubSignature, SlackSignature, GitLabToken, LinearSignature, HubSignature, StandardWebhooks)
}


def verifier_for_scheme(name: str) -> WebhookVerifier:
    """The verifier of scheme ``name``: github, slack, gitlab, linear, jira or standard."""
    try:
        return SCHEMES[name]()
    except KeyError:
        raise InvalidInputError(
            f"unknown webhook scheme {name!r} (known: {', '.join(sorted(SCHEMES))})",
            details={"field": "scheme"},
        ) from None


@dataclass(frozen=True, slots=True)
class WebhookSpec:
    """How a connector receives webhooks: the verifier, and how a request becomes an event.

    Attributes:
        verifier: the provider's signature scheme (required: the receiver fails closed without it).
        event_type: the event type of a request, e.g. ``github.pull_request.opened``.
        delivery_id: the provider's id of the delivery, used to drop redelivered duplicates.
        data: the event's payload; by default the JSON body.
        events: the event types the connector can emit (documentation and ``webhooks endpoints``).

    Example:
        >>> WebhookSpec(  # doctest: +SKIP
        ...     verifier=GitLabToken(),
        ...     event_type=lambda req: "gitlab." + req.json()["object_kind"],
        ...     delivery_id=header("X-Gitlab-Event-UUID"),
        ... )
    """

    verifier: WebhookVerifier
    event_type: Callable[[IncomingWebhook], str]
    delivery_id: Callable[[IncomingWebhook], str | None]
    data: Callable[[IncomingWebhook], dict[str, Any]] = json_body
    events: tuple[str, ...] = ()


def describe_delivery(spec: WebhookSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """What the fabric makes of one delivery: the standard ``webhook.receive`` action.

    The real receiver is ``cuervo-fabric serve``; this runs the same declaration (verifier, event
    type, delivery id) over a delivery given as parameters (``headers``, ``body`` and, to verify
    the signature, ``secret``), so a saved delivery can be checked from a script.

    Args:
        spec: the connector's ``webhook`` declaration.
        params: ``headers`` (a mapping), ``body`` (the raw body as text), optional ``secret``.

    Returns:
        ``{eventType, deliveryId, verified, data}``; ``verified`` is true when a secret was given.

    Raises:
        WebhookSignatureError: the signature does not match ``secret`` (``AUTH_FAILED``).
        WebhookPayloadError: the delivery is malformed (``INVALID_INPUT``).

    Example:
        >>> spec = WebhookSpec(verifier=GitLabToken(), event_type=lambda req: "acme.push",
        ...                    delivery_id=header("X-Delivery"))
        >>> out = describe_delivery(spec, {"headers": {"X-Gitlab-Token": "s3", "X-Delivery": "d1"},
        ...                                "body": '{"ref": "main"}', "secret": "s3"})
        >>> out["eventType"], out["deliveryId"], out["verified"], out["data"]
        ('acme.push', 'd1', True, {'ref': 'main'})
    """
    req = IncomingWebhook.build(dict(params["headers"]), str(params["body"]).encode())
    secret = params.get("secret")
    if secret:
        spec.verifier.verify(str(secret), req)
    return {
        "eventType": spec.event_type(req),
        "deliveryId": spec.delivery_id(req),
        "verified": bool(secret),
        "data": spec.data(req),
    }
