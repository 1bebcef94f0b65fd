"""``cuervo-fabric events ...``: the event log, replay, subscribers and the dead-letter queue."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer

from cuervo_fabric.cli import _render
from cuervo_fabric.cli._app import new_app
from cuervo_fabric.cli._input import read_json_arg
from cuervo_fabric.cli._state import state

__all__ = ["app"]

app = new_app(
    "The durable event log: list, show, tail and replay events; the dead-letter queue.\n\n"
    "Example: [bold]cuervo-fabric events list --type 'github.*' --since 1h[/bold]"
)
dlq_app = new_app(
    "Deliveries that failed every retry.\n\nExample: [bold]cuervo-fabric events dlq retry --all[/bold]"
)
app.add_typer(dlq_app, name="dlq")

TypeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--type", "-t", help="Event type pattern, '*' matches anything (repeatable).", metavar="PATTERN"
    ),
]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="ISO-8601 time or an age such as 10m, 2h, 7d.", metavar="T")
]
LimitOpt = Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000, help="At most this many.")]


def _short(ident: str) -> str:
    return ident[:12]


def _event_rows(items: list[Any]) -> list[list[Any]]:
    return [
        [s.seq, _short(s.event.id), s.event.type, _short(s.event.source), s.event.timestamp] for s in items
    ]


@app.command("list")
def list_events(
    type_: TypeOpt = None,
    since: SinceOpt = None,
    limit: LimitOpt = 50,
    source: Annotated[str | None, typer.Option("--source", help="Only events from this instance id.")] = None,
) -> None:
    """List events, newest first.

    Example: cuervo-fabric events list --type 'github.pull_request.*' --since 2h --limit 20
    """
    items = state.fabric().events.list_events(
        state.fabric().tenant, patterns=type_ or (), since=since, source=source, limit=limit
    )
    _render.emit(
        [s.to_dict() for s in items],
        lambda: _render.table(None, ["seq", "id", "type", "source", "time"], _event_rows(items)),
    )


@app.command("show")
def show(event: Annotated[str, typer.Argument(help="Event id, id prefix, or log position (seq).")]) -> None:
    """Show one event with its payload and what each subscriber made of it.

    Example: cuervo-fabric events show 42
    """
    fabric = state.fabric()
    stored = fabric.events.get(fabric.tenant, event)
    deliveries = fabric.events.deliveries_of(fabric.tenant, stored.event.id)
    data = {**stored.to_dict(), "deliveries": [d.to_dict() for d in deliveries]}

    def human() -> None:
        ev = stored.event
        _render.kv(
            f"event {ev.id}",
            [
                ("seq", stored.seq),
                ("type", ev.type),
                ("source", ev.source),
                ("connector", f"{ev.connector_id} {ev.connector_version}".strip()),
                ("time", ev.timestamp),
                ("correlation id", ev.correlation_id),
                ("delivery id", ev.original_webhook_id or ""),
            ],
        )
        sys.stdout.write(json.dumps(ev.data, indent=2) + "\n")
        if deliveries:
            _render.table(
                "deliveries",
                ["id", "subscriber", "status", "attempts", "last error"],
                [
                    [d.id, _short(d.subscriber_id), d.status, d.attempts, d.last_error or ""]
                    for d in deliveries
                ],
            )

    _render.emit(data, human)


@app.command("tail")
def tail(
    type_: TypeOpt = None,
    since: SinceOpt = None,
    max_events: Annotated[
        int | None, typer.Option("--max-events", min=1, help="Stop after printing this many events.")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0.0, help="Stop after this many seconds.")
    ] = None,
    interval: Annotated[float, typer.Option("--interval", min=0.05, help="Seconds between polls.")] = 0.5,
) -> None:
    """Print new events as they are logged (JSON lines with --json) until Ctrl-C.

    Example: cuervo-fabric --json events tail --type 'github.*'
    """
    fabric = state.fabric()
    svc, tenant = fabric.events, fabric.tenant
    after = 0
    if since:
        backlog = svc.list_events(tenant, patterns=type_ or (), since=since, limit=10_000)
        after = backlog[-1].seq - 1 if backlog else svc.head()
    else:
        after = svc.head()
    printed = 0
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            for stored in svc.after(tenant, after, patterns=type_ or ()):
                after = stored.seq
                if state.json:
                    sys.stdout.write(json.dumps(stored.to_dict()) + "\n")
                else:
                    ev = stored.event
                    sys.stdout.write(f"{stored.seq}\t{ev.timestamp}\t{ev.type}\t{ev.id}\n")
                sys.stdout.flush()
                printed += 1
                if max_events is not None and printed >= max_events:
                    return
            if deadline is not None and time.monotonic() >= deadline:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return


@app.command("replay")
def replay(
    pattern: Annotated[str, typer.Argument(help="Event type pattern, e.g. 'github.*' or '*'.")],
    since: Annotated[
        str, typer.Option("--since", help="ISO-8601 time or an age (10m, 2h, 7d).", metavar="T")
    ],
    subscriber: Annotated[
        str | None,
        typer.Option("--subscriber", "-s", help="Only this subscriber (id, name, or webhook id)."),
    ] = None,
) -> None:
    """Deliver logged events again: every matching event since T is owed anew to its subscribers.

    Subscribers receive them again (they deduplicate by event id); outgoing webhooks send them on
    the next `webhooks deliver` or from `serve`.

    Example: cuervo-fabric events replay 'github.*' --since 2026-01-31T09:00:00Z
    """
    fabric = state.fabric()
    out = fabric.events.replay(fabric.tenant, pattern, since, subscriber=subscriber)
    _render.emit(out, lambda: _render.info(f"{out['requeued']} deliveries queued again since {out['since']}"))


@app.command("publish")
def publish(
    event_type: Annotated[str, typer.Argument(help="The event type, e.g. deploy.finished.")],
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="Payload: a JSON object, @FILE or - (stdin).")
    ] = None,
    source: Annotated[str, typer.Option("--source", help="Where it comes from.")] = "cli",
) -> None:
    """Append an event to the log (it reaches every matching subscriber and webhook).

    Example: cuervo-fabric events publish deploy.finished -d '{"service": "api"}'
    """
    fabric = state.fabric()
    event, result = fabric.events.publish(fabric.tenant, event_type, read_json_arg(data), source=source)
    out = {**event.to_dict(), "seq": result.seq}
    _render.emit(out, lambda: _render.info(f"published {event.type} as event {event.id} (seq {result.seq})"))


@app.command("subscribers")
def subscribers() -> None:
    """List the durable subscribers that receive this tenant's events (handlers and webhooks).

    Example: cuervo-fabric events subscribers
    """
    fabric = state.fabric()
    items = fabric.events.subscribers(fabric.tenant)
    _render.emit(
        [s.to_dict() for s in items],
        lambda: _render.table(
            None,
            ["id", "name", "kind", "patterns", "active", "cursor"],
            [[_short(s.id), s.name, s.kind, ", ".join(s.patterns), s.active, s.cursor_seq] for s in items],
        ),
    )


def _delivery_rows(items: list[Any]) -> list[list[Any]]:
    return [
        [
            d.id,
            _short(d.event_id),
            d.event_type,
            _short(d.subscriber_id),
            d.attempts,
            d.last_error or "",
            d.updated_at,
        ]
        for d in items
    ]


SubscriberOpt = Annotated[
    str | None, typer.Option("--subscriber", "-s", help="Only this subscriber (id, name, or webhook id).")
]
IdsArg = Annotated[list[str] | None, typer.Argument(help="Dead-lettered delivery ids (see dlq list).")]


@dlq_app.command("list")
def dlq_list(subscriber: SubscriberOpt = None, limit: LimitOpt = 50) -> None:
    """List dead-lettered deliveries, newest first.

    Example: cuervo-fabric events dlq list --json
    """
    fabric = state.fabric()
    items = fabric.events.dlq(fabric.tenant, subscriber=subscriber, limit=limit)
    _render.emit(
        [d.to_dict() for d in items],
        lambda: _render.table(
            None,
            ["id", "event", "type", "subscriber", "attempts", "last error", "dead since"],
            _delivery_rows(items),
        ),
    )


@dlq_app.command("retry")
def dlq_retry(
    ids: IdsArg = None,
    all_: Annotated[bool, typer.Option("--all", help="Every dead-lettered delivery of the tenant.")] = False,
    subscriber: SubscriberOpt = None,
) -> None:
    """Queue dead-lettered deliveries again with a fresh retry budget.

    Example: cuervo-fabric events dlq retry --all
    """
    fabric = state.fabric()
    n = fabric.events.dlq_retry(fabric.tenant, ids or [], all_=all_, subscriber=subscriber)
    _render.emit({"retried": n}, lambda: _render.info(f"{n} deliveries queued again"))


@dlq_app.command("purge")
def dlq_purge(
    ids: IdsArg = None,
    all_: Annotated[bool, typer.Option("--all", help="Every dead-lettered delivery of the tenant.")] = False,
    subscriber: SubscriberOpt = None,
    before: Annotated[
        str | None,
        typer.Option("--before", help="Only those dead since before T (ISO-8601 or 7d).", metavar="T"),
    ] = None,
) -> None:
    """Delete dead-lettered deliveries (the events themselves stay in the log).

    Example: cuervo-fabric events dlq purge --before 30d
    """
    fabric = state.fabric()
    n = fabric.events.dlq_purge(fabric.tenant, ids or [], all_=all_, subscriber=subscriber, before=before)
    _render.emit({"purged": n}, lambda: _render.info(f"{n} dead-lettered deliveries purged"))
