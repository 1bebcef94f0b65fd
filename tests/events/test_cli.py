"""`events ...` through the CLI: list, show, tail, replay, subscribers and the DLQ commands."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.conftest import CLI, cli_env
from tests.helpers import cli, db_snapshot


def _publish(event_type: str, **data: object) -> dict[str, object]:
    out = cli("--json", "events", "publish", event_type, "-d", json.dumps(data))
    assert out.exit_code == 0, out.stderr
    return dict(out.json())


def test_list_filters_by_type_pattern_since_and_limit(home: Path):
    """`events list` is newest first and honours --type (repeatable), --since and --limit."""
    a = _publish("github.push", n=1)
    b = _publish("github.pull_request.opened", n=2)
    _publish("jira.issue.created", n=3)
    listed = cli("--json", "events", "list", "--type", "github.*").json()
    assert [e["id"] for e in listed] == [b["id"], a["id"]]
    assert len(cli("--json", "events", "list", "--limit", "2").json()) == 2
    both = cli("--json", "events", "list", "--type", "jira.*", "--type", "github.push").json()
    assert {e["type"] for e in both} == {"jira.issue.created", "github.push"}
    assert len(cli("--json", "events", "list", "--since", "1h").json()) == 3
    assert cli("--json", "events", "list", "--since", "2999-01-01T00:00:00Z").json() == []
    human = cli("events", "list", "--type", "jira.*")
    assert human.exit_code == 0
    assert "seq" in human.stdout
    assert "jira" in human.stdout


def test_bad_input_is_refused_with_stable_codes(home: Path):
    """A bad time, pattern or event type is INVALID_INPUT (exit 2); an unknown event is NOT_FOUND (exit 3)."""
    before = db_snapshot(home)
    for args in (
        ["events", "list", "--since", "yesterday"],
        ["events", "list", "--type", "bad pattern!"],
        ["events", "publish", "has space", "-d", "{}"],
        ["events", "publish", "ok.type", "-d", "[1]"],
        ["events", "dlq", "retry"],
        ["events", "dlq", "purge", "abc"],
    ):
        out = cli("--json", *args)
        assert out.exit_code == 2, (args, out.stdout)
        assert out.error["code"] == "INVALID_INPUT"
    missing = cli("--json", "events", "show", "no-such-event")
    assert (missing.exit_code, missing.error["code"]) == (3, "NOT_FOUND")
    assert db_snapshot(home) == before


def test_show_by_id_prefix_or_seq(home: Path):
    """`events show` finds an event by id, unique id prefix or log position."""
    ev = _publish("deploy.finished", service="api")
    by_seq = cli("--json", "events", "show", str(ev["seq"])).json()
    by_prefix = cli("--json", "events", "show", str(ev["id"])[:10]).json()
    assert by_seq["id"] == by_prefix["id"] == ev["id"]
    assert by_seq["data"] == {"service": "api"}
    assert by_seq["deliveries"] == []
    assert "deploy.finished" in cli("events", "show", str(ev["id"])).stdout


def test_tail_prints_new_events_as_json_lines(home: Path):
    """`events tail --json` streams events logged after it starts, one JSON document per line."""
    _publish("old.event")
    proc = subprocess.Popen(
        [
            *CLI,
            "--json",
            "events",
            "tail",
            "--type",
            "new.*",
            "--max-events",
            "2",
            "--timeout",
            "30",
            "--interval",
            "0.1",
        ],
        env=cli_env(home),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)  # let it start and read the log's head
        _publish("new.one")
        _publish("skipped.other")
        _publish("new.two")
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [json.loads(line) for line in out.splitlines()]
    assert [e["type"] for e in lines] == ["new.one", "new.two"]


def test_replay_requeues_for_a_webhook_and_subscribers_lists_it(home: Path):
    """`events replay PATTERN --since T --subscriber ID` owes matching events again to that subscriber."""
    assert cli("config", "set", "webhooks.allow_private_targets", "true").exit_code == 0
    sub = cli("--json", "webhooks", "create", "--url", "http://127.0.0.1:9/x", "--events", "*").json()
    subs = cli("--json", "events", "subscribers").json()
    assert [(s["id"], s["kind"]) for s in subs] == [(sub["id"], "webhook")]
    _publish("a.b")
    _publish("c.d")
    # materialise the deliveries, then replay one of them
    cli("--json", "webhooks", "deliver", "--max-seconds", "5")
    out = cli("--json", "events", "replay", "a.*", "--since", "1h", "--subscriber", sub["id"][:8]).json()
    assert out["requeued"] == 1
    assert out["subscribers"] == [sub["id"]]
    unknown = cli("--json", "events", "replay", "*", "--since", "1h", "--subscriber", "nobody")
    assert unknown.error["code"] == "NOT_FOUND"


def test_dlq_purge_removes_dead_deliveries_but_keeps_events(home: Path):
    """`events dlq purge` deletes dead-lettered deliveries; the events stay in the log."""
    assert cli("config", "set", "webhooks.allow_private_targets", "true").exit_code == 0
    cli(
        "--json",
        "webhooks",
        "create",
        "--url",
        "http://127.0.0.1:9/x",
        "--events",
        "*",
        "--schedule",
        "0s",
        "--max-retries",
        "0",
        "--timeout",
        "1s",
    )
    _publish("a.b")
    cli("--json", "webhooks", "deliver")
    dead = cli("--json", "events", "dlq", "list").json()
    assert len(dead) == 1
    assert dead[0]["lastError"]
    assert cli("--json", "events", "dlq", "purge", str(dead[0]["id"])).json() == {"purged": 1}
    assert cli("--json", "events", "dlq", "list").json() == []
    assert len(cli("--json", "events", "list").json()) == 1
