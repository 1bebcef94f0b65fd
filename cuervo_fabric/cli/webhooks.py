"""``cuervo-fabric webhooks ...``: inbound endpoints, outgoing subscriptions, delivery, signing tools."""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from cuervo_fabric.cli import _render
from cuervo_fabric.cli._app import new_app
from cuervo_fabric.cli._input import parse_pairs
from cuervo_fabric.cli._state import state
from cuervo_fabric.errors import InvalidInputError

__all__ = ["app"]

app = new_app(
    "Webhooks: endpoints for providers to call, outgoing subscriptions with signed, retried "
    "deliveries, and tools to sign and send test payloads.\n\n"
    "Example: [bold]cuervo-fabric webhooks create --url https://hooks.example.com/in "
    "--events 'github.*'[/bold]"
)

IdArg = Annotated[str, typer.Argument(help="Webhook subscription id (or a unique prefix).")]
SchemeOpt = Annotated[
    str,
    typer.Option("--scheme", help="github, slack, gitlab, linear, jira or standard (Standard Webhooks)."),
]
BodyOpt = Annotated[
    str | None, typer.Option("--body", "-d", help="The payload: text, @FILE or - (stdin). Default: {}.")
]
SecretFileOpt = Annotated[
    Path | None, typer.Option("--secret-file", help="Read the secret from this file (else stdin).")
]
SecretEnvOpt = Annotated[
    str | None, typer.Option("--secret-env", help="Read the secret from this environment variable.")
]


def _short(ident: str) -> str:
    return ident[:12]


def _stdin_line(what: str) -> str:
    if sys.stdin is None:
        raise InvalidInputError(f"expected the {what} on stdin", details={"field": what})
    value = sys.stdin.readline().strip()
    if not value:
        raise InvalidInputError(
            f"expected the {what} on stdin (or use --secret-file / --secret-env)", details={"field": what}
        )
    return value


def _read_secret(secret_file: Path | None, secret_env: str | None, *, stdin_busy: bool) -> str:
    if secret_file is not None:
        try:
            value = secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InvalidInputError(
                f"cannot read {secret_file}: {exc.strerror}", details={"field": "secret"}
            ) from exc
    elif secret_env is not None:
        value = os.environ.get(secret_env, "").strip()
        if not value:
            raise InvalidInputError(
                f"the environment variable {secret_env} is empty", details={"field": "secret"}
            )
    elif stdin_busy:
        raise InvalidInputError(
            "the body comes from stdin: give the secret with --secret-file or --secret-env",
            details={"field": "secret"},
        )
    else:
        value = _stdin_line("secret")
    if not value:
        raise InvalidInputError("the secret is empty", details={"field": "secret"})
    return value


def _read_body(body: str | None) -> bytes:
    if body is None:
        return b"{}"
    if body == "-":
        return sys.stdin.buffer.read()
    if body.startswith("@"):
        try:
            return Path(body[1:]).read_bytes()
        except OSError as exc:
            raise InvalidInputError(
                f"cannot read {body[1:]}: {exc.strerror}", details={"field": "body"}
            ) from exc
    return body.encode()


def _headers(pairs: list[str] | None) -> dict[str, str]:
    """``--header K=V``; ``K=@FILE`` reads the value from a file (keeps secret values out of argv)."""
    out = parse_pairs(pairs, "--header")
    for key, value in out.items():
        if value.startswith("@"):
            try:
                out[key] = Path(value[1:]).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise InvalidInputError(
                    f"cannot read {value[1:]}: {exc.strerror}", details={"field": "header"}
                ) from exc
    return out


def _schedule(text: str | None) -> list[int] | None:
    if text is None:
        return None
    from cuervo_fabric.domain.subscriptions import parse_duration

    parts = [p for p in text.split(",") if p.strip()]
    if not parts:
        raise InvalidInputError("--schedule needs at least one delay", details={"field": "schedule"})
    return [int(parse_duration(p) * 1000) for p in parts]


# ---------------------------------------------------------------------- inbound endpoints


@app.command("endpoints")
def endpoints(
    instance: Annotated[str, typer.Argument(help="Instance id, name, or a connector id with one instance.")],
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url", help="Public URL of `serve` (else CUERVO_FABRIC_PUBLIC_URL or webhooks.public_url)."
        ),
    ] = None,
    new_token: Annotated[
        bool, typer.Option("--new-token", help="Issue a new URL (the old one stops working).")
    ] = False,
    new_secret: Annotated[bool, typer.Option("--new-secret", help="Generate a new signing secret.")] = False,
    secret_stdin: Annotated[
        bool,
        typer.Option(
            "--secret-stdin", help="Read the provider-issued signing secret from stdin (Slack, Linear)."
        ),
    ] = False,
    remove: Annotated[bool, typer.Option("--remove", help="Deregister: the URL stops working.")] = False,
) -> None:
    """Show the URL and secret to configure at the provider (registering the endpoint on first use).

    The output contains the secret on purpose: it is what you paste into the provider's settings.

    Example: cuervo-fabric webhooks endpoints github --base-url https://hooks.example.com
    """
    fabric = state.fabric()
    inst = fabric.lifecycle.resolve(fabric.tenant, instance)
    if remove:
        gone = fabric.webhooks.remove_endpoint(inst)
        out = {"instanceId": inst.id, "removed": gone}
        _render.emit(
            out, lambda: _render.info("endpoint removed" if gone else "the instance had no endpoint")
        )
        return
    provided = _stdin_line("secret") if secret_stdin else None
    info = fabric.webhooks.endpoint(
        inst,
        base_url=fabric.webhook_base_url(base_url),
        new_token=new_token,
        new_secret=new_secret,
        provided_secret=provided,
    )
    _render.emit(
        info,
        lambda: _render.kv(
            f"webhook endpoint of {inst.name} ({inst.connector_id})",
            [
                ("URL", info["url"]),
                ("secret", info["secret"]),
                ("scheme", info["scheme"]),
                ("secret source", info["secretSource"]),
                ("events", ", ".join(info["events"]) or "(any)"),
                ("received", f"{info['totalReceived']} (last: {info['lastReceivedAt'] or 'never'})"),
            ],
        ),
    )


# ---------------------------------------------------------------------- outgoing subscriptions


def _show_subscription(sub: Any, secret: str | None = None) -> None:
    data = sub.to_dict()
    if secret is not None:
        data["secret"] = secret

    def human() -> None:
        _render.kv(
            f"webhook {sub.id}",
            [
                ("url", sub.url),
                ("events", ", ".join(sub.events)),
                ("active", "yes" if sub.active else f"no ({sub.disabled_reason or 'disabled'})"),
                ("headers", ", ".join(sub.header_names) or "(none)"),
                (
                    "retries",
                    f"{sub.policy.max_retries}, waits "
                    + ", ".join(_fmt_ms(ms) for ms in sub.policy.backoff_ms),
                ),
                ("timeout", _fmt_ms(sub.timeout_ms)),
                ("deliveries", f"{sub.total_deliveries} ({sub.total_failures} failed)"),
            ],
        )
        if secret is not None:
            _render.info(f"secret: {secret}")
            _render.info("(shown once: store it now; verify deliveries with it per standardwebhooks.com)")

    _render.emit(data, human)


def _fmt_ms(ms: int) -> str:
    s = ms / 1000
    for unit, size in (("h", 3600), ("m", 60)):
        if s >= size and s % size == 0:
            return f"{int(s // size)}{unit}"
    return f"{s:g}s"


@app.command("create")
def create(
    url: Annotated[str, typer.Option("--url", help="Where to POST events (http or https).")],
    events: Annotated[
        list[str], typer.Option("--events", "-e", help="Event type pattern, e.g. 'github.*' (repeatable).")
    ],
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header", "-H", help="Extra header K=V; K=@FILE reads the value from a file.", metavar="K=V"
        ),
    ] = None,
    max_retries: Annotated[
        int | None, typer.Option("--max-retries", min=0, max=100, help="Retries before dead-lettering.")
    ] = None,
    schedule: Annotated[
        str | None,
        typer.Option("--schedule", help="Waits before each retry, e.g. 5s,5m,30m,2h (default: Svix's)."),
    ] = None,
    timeout: Annotated[str, typer.Option("--timeout", help="Per-attempt timeout, e.g. 15s.")] = "15s",
    description: Annotated[str, typer.Option("--description", help="A note for people.")] = "",
) -> None:
    """Create an outgoing webhook; prints its whsec_ signing secret once.

    Deliveries carry Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature)
    and are retried 0 s, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h later (with jitter) by default.

    Example: cuervo-fabric webhooks create --url https://hooks.example.com/in --events 'github.*'
    """
    from cuervo_fabric.domain.subscriptions import parse_duration

    fabric = state.fabric()
    sub, secret = fabric.webhooks.create(
        fabric.tenant,
        url,
        events,
        headers=_headers(header),
        max_retries=max_retries,
        backoff_ms=_schedule(schedule),
        timeout_ms=int(parse_duration(timeout) * 1000),
        description=description,
    )
    _show_subscription(sub, secret)


@app.command("list")
def list_webhooks() -> None:
    """List outgoing webhooks.

    Example: cuervo-fabric webhooks list --json
    """
    fabric = state.fabric()
    subs = fabric.webhooks.subscriptions(fabric.tenant)
    _render.emit(
        [s.to_dict() for s in subs],
        lambda: _render.table(
            None,
            ["id", "url", "events", "active", "deliveries", "failures", "last delivery"],
            [
                [
                    _short(s.id),
                    s.url,
                    ", ".join(s.events),
                    "yes" if s.active else "no",
                    s.total_deliveries,
                    s.total_failures,
                    s.last_delivery_at or "",
                ]
                for s in subs
            ],
        ),
    )


@app.command("delete")
def delete(webhook: IdArg) -> None:
    """Delete an outgoing webhook and what it is still owed.

    Example: cuervo-fabric webhooks delete 3f2a9c
    """
    fabric = state.fabric()
    sub = fabric.webhooks.delete(fabric.tenant, webhook)
    _render.emit({"id": sub.id, "deleted": True}, lambda: _render.info(f"deleted webhook {sub.id}"))


@app.command("enable")
def enable(webhook: IdArg) -> None:
    """Turn a disabled webhook (say, after a 410 Gone) back on; its pending deliveries resume.

    Example: cuervo-fabric webhooks enable 3f2a9c
    """
    fabric = state.fabric()
    _show_subscription(fabric.webhooks.set_active(fabric.tenant, webhook, True))


@app.command("disable")
def disable(webhook: IdArg) -> None:
    """Pause deliveries to a webhook (events still queue for it).

    Example: cuervo-fabric webhooks disable 3f2a9c
    """
    fabric = state.fabric()
    _show_subscription(fabric.webhooks.set_active(fabric.tenant, webhook, False))


@app.command("deliveries")
def deliveries(
    webhook: IdArg,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000, help="At most this many.")] = 50,
    event: Annotated[str | None, typer.Option("--event", help="Only attempts for this event id.")] = None,
) -> None:
    """The delivery log: every attempt with its status, duration and a response excerpt.

    Example: cuervo-fabric webhooks deliveries 3f2a9c --limit 20
    """
    fabric = state.fabric()
    sub, attempts = fabric.webhooks.deliveries(fabric.tenant, webhook, limit=limit, event_id=event)
    _render.emit(
        [a.to_dict() for a in attempts],
        lambda: _render.table(
            f"deliveries of {sub.url}",
            ["time", "event", "type", "attempt", "status", "ms", "error", "response"],
            [
                [
                    a.delivered_at,
                    _short(a.event_id),
                    a.event_type,
                    a.attempt,
                    a.response_status or "",
                    a.duration_ms,
                    a.error or "",
                    (a.response_body or "")[:60],
                ]
                for a in attempts
            ],
        ),
    )


@app.command("test")
def test(webhook: IdArg) -> None:
    """POST one signed webhook.test event now (no retries); shows the endpoint's answer.

    Example: cuervo-fabric webhooks test 3f2a9c
    """
    fabric = state.fabric()
    dispatcher = fabric.webhook_dispatcher(workers=1)
    try:
        outcome, attempt = fabric.webhooks.test(fabric.tenant, webhook, lambda s, e: dispatcher.send(s, e, 1))
    finally:
        dispatcher.close()
    _render.emit(
        attempt.to_dict(),
        lambda: _render.info(
            f"{'delivered' if outcome.success else 'failed'}: "
            f"{attempt.response_status or '-'} in {attempt.duration_ms} ms"
            + (f" ({attempt.error})" if attempt.error else "")
        ),
    )
    if not outcome.success:
        raise typer.Exit(11)


@app.command("rotate-secret")
def rotate_secret(
    webhook: IdArg,
    grace: Annotated[
        str, typer.Option("--grace", help="How long the old secret keeps signing too (0 ends it now).")
    ] = "24h",
) -> None:
    """Issue a new signing secret; both sign (two signatures) until the grace period ends.

    Example: cuervo-fabric webhooks rotate-secret 3f2a9c --grace 1h
    """
    from cuervo_fabric.domain.subscriptions import parse_duration

    fabric = state.fabric()
    sub, secret = fabric.webhooks.rotate_secret(fabric.tenant, webhook, grace_s=parse_duration(grace))
    _show_subscription(sub, secret)


@app.command("deliver")
def deliver(
    until_idle: Annotated[
        bool,
        typer.Option("--until-idle", help="Also wait for retries and held leases until nothing is pending."),
    ] = False,
    max_seconds: Annotated[
        float | None, typer.Option("--max-seconds", min=0.0, help="Stop after this many seconds.")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Concurrent POSTs.")] = 8,
    batch: Annotated[int, typer.Option("--batch", min=1, max=5000, help="Deliveries leased at once.")] = 200,
    lease_seconds: Annotated[
        float, typer.Option("--lease-seconds", min=0.1, help="How long a leased delivery is held.")
    ] = 60.0,
    webhook: Annotated[
        list[str] | None, typer.Option("--webhook", "-w", help="Only these webhooks (repeatable).")
    ] = None,
) -> None:
    """Deliver due outgoing webhooks once and exit (for cron and CI); `serve` does this continuously.

    Example: cuervo-fabric webhooks deliver --until-idle --max-seconds 60
    """
    fabric = state.fabric()
    only = [fabric.webhooks.get(fabric.tenant, w).id for w in webhook] if webhook else None
    dispatcher = fabric.webhook_dispatcher(workers=workers, batch=batch, lease_s=lease_seconds)
    try:
        stats = dispatcher.run(until_idle=until_idle, max_seconds=max_seconds, subscription_ids=only)
    finally:
        dispatcher.close()
    out = stats.to_dict()
    _render.emit(
        out,
        lambda: _render.info(
            f"{stats.attempted} attempts: {stats.delivered} delivered, {stats.failed} failed, "
            f"{stats.dead_lettered} dead-lettered in {stats.seconds:.2f} s"
        ),
    )


# ---------------------------------------------------------------------- signing tools


def _signed(
    scheme: str,
    body: bytes,
    secret: str,
    *,
    timestamp: int | None,
    delivery_id: str | None,
    event: str | None,
) -> tuple[bytes, dict[str, str]]:
    from cuervo_fabric.sdk import verifier_for_scheme

    verifier = verifier_for_scheme(scheme)
    body = verifier.prepare_body(body, now=timestamp)
    did = delivery_id or str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json"
        if body[:1] in (b"{", b"[")
        else "application/x-www-form-urlencoded"
    }
    headers.update(verifier.envelope(event=event, delivery_id=did))
    headers.update(verifier.sign(secret, body, timestamp=timestamp, webhook_id=delivery_id))
    return body, headers


@app.command("sign")
def sign(
    scheme: SchemeOpt,
    body: BodyOpt = None,
    secret_file: SecretFileOpt = None,
    secret_env: SecretEnvOpt = None,
    timestamp: Annotated[
        int | None, typer.Option("--timestamp", help="Unix time to sign at (default: now).")
    ] = None,
    delivery_id: Annotated[str | None, typer.Option("--id", help="The delivery / message id.")] = None,
    event: Annotated[
        str | None, typer.Option("--event", help="Event name header (github: push, gitlab: Push Hook).")
    ] = None,
) -> None:
    """Print the headers a provider would send with BODY, signed with a secret from stdin.

    Example: echo "$SECRET" | cuervo-fabric webhooks sign --scheme github --body @payload.json
    """
    raw = _read_body(body)
    secret = _read_secret(secret_file, secret_env, stdin_busy=body == "-")
    signed_body, headers = _signed(
        scheme, raw, secret, timestamp=timestamp, delivery_id=delivery_id, event=event
    )
    out: dict[str, Any] = {"headers": headers}
    if signed_body != raw:
        out["body"] = signed_body.decode("utf-8", "replace")
    _render.emit(out, lambda: sys.stdout.write("".join(f"{k}: {v}\n" for k, v in headers.items())))


@app.command("send")
def send(
    url: Annotated[
        str, typer.Argument(help="Where to POST (your endpoint, or ours from `webhooks endpoints`).")
    ],
    scheme: SchemeOpt,
    body: BodyOpt = None,
    secret_file: SecretFileOpt = None,
    secret_env: SecretEnvOpt = None,
    event: Annotated[
        str | None, typer.Option("--event", help="Event name header (github: push, gitlab: Push Hook).")
    ] = None,
    delivery_id: Annotated[
        str | None, typer.Option("--id", help="The delivery / message id (default: random).")
    ] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", "-H", help="Extra header K=V (repeatable).", metavar="K=V")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait.")] = 10.0,
) -> None:
    """Sign BODY like a provider and POST it; prints the answer (exit 11 when it is not 2xx).

    Example: echo "$SECRET" | cuervo-fabric webhooks send "$URL" --scheme github --event push -d @push.json
    """
    import httpx

    raw = _read_body(body)
    secret = _read_secret(secret_file, secret_env, stdin_busy=body == "-")
    signed_body, headers = _signed(scheme, raw, secret, timestamp=None, delivery_id=delivery_id, event=event)
    headers.update(_headers(header))
    try:
        resp = httpx.post(url, content=signed_body, headers=headers, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        from cuervo_fabric.errors import UpstreamError

        raise UpstreamError(f"cannot POST to {url}: {type(exc).__name__}: {exc}") from exc
    try:
        answer: Any = resp.json()
    except ValueError:
        answer = resp.text[:2000]
    shown = {k: ("(secret)" if k.lower() == "x-gitlab-token" else v) for k, v in headers.items()}
    out = {"status": resp.status_code, "response": answer, "headers": shown}
    _render.emit(
        out,
        lambda: _render.info(f"{resp.status_code} {resp.reason_phrase}: {json.dumps(answer)[:500]}"),
    )
    if not 200 <= resp.status_code < 300:
        raise typer.Exit(11)
