"""Crash tests: SIGKILL the receiver under load, SIGKILL a delivery worker mid-batch; nothing is lost."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

from cuervo_fabric.domain.models import IntegrationEvent
from cuervo_fabric.store.sqlite import SqliteStore
from cuervo_fabric.store.sqlite_events import SqliteEventStore
from cuervo_fabric.testing import LoopbackServer, Reply
from tests.conftest import CLI, cli_env
from tests.helpers import cli
from tests.webhooks._support import allow_private_targets, github_endpoint, start_serve, stop, wait_ready

LOADGEN = Path(__file__).with_name("loadgen.py")


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _wait_for(predicate, what: str, timeout: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    stop(proc)


def test_sigkilled_receiver_loses_no_acknowledged_webhook_and_every_event_reaches_subscribers(
    home: Path, tmp_path: Path
):
    """After SIGKILLs under load every 2xx'd delivery is logged exactly once and reaches the subscriber."""
    count = 240
    allow_private_targets()
    ep = github_endpoint()
    (tmp_path / "secret").write_text(ep["secret"])
    out_file = tmp_path / "acked.txt"
    with LoopbackServer() as subscriber:
        subscriber.route("POST", "/events", Reply(200))
        sub = cli(
            "--json", "webhooks", "create", "--url", subscriber.url + "/events", "--events", "github.*"
        ).json()
        serve = start_serve(home, "--lease-seconds", "2")
        url = wait_ready(serve)
        port = url.rsplit(":", 1)[1]
        load = subprocess.Popen(
            [
                sys.executable,
                str(LOADGEN),
                url + ep["path"],
                str(tmp_path / "secret"),
                str(count),
                str(out_file),
            ],
            env=cli_env(home),
        )
        try:
            for threshold in (60, 140):
                _wait_for(
                    lambda t=threshold: len(_lines(out_file)) >= t, f"{threshold} acknowledged deliveries"
                )
                _kill(serve)
                serve = start_serve(home, "--lease-seconds", "2", port=int(port))
                wait_ready(serve)
            assert load.wait(180) == 0
        finally:
            if load.poll() is None:
                load.kill()
                load.wait()
            _kill(serve)
        # Whatever the killed servers had leased comes due again when the lease runs out.
        done = cli(
            "--json", "webhooks", "deliver", "--until-idle", "--max-seconds", "60", "--lease-seconds", "2"
        )
        assert done.exit_code == 0, done.stdout
        received = {r.headers["webhook-id"] for r in subscriber.calls("POST", "/events")}
    acked = dict(line.split() for line in _lines(out_file))
    assert len(acked) == count
    conn = sqlite3.connect(home / "fabric.db")
    try:
        rows = conn.execute("SELECT original_webhook_id, id FROM integration_events").fetchall()
        open_deliveries = conn.execute(
            "SELECT count(*) FROM event_deliveries WHERE subscriber_id = ? AND status <> 'done'", (sub["id"],)
        ).fetchone()[0]
    finally:
        conn.close()
    logged = [r[0] for r in rows]
    assert sorted(logged) == sorted(acked), "each acknowledged delivery is logged exactly once"
    assert {r[0]: r[1] for r in rows} == acked
    assert set(acked.values()) <= received, "every event reached the subscriber"
    assert open_deliveries == 0


def test_a_delivery_worker_killed_mid_batch_loses_nothing(home: Path):
    """SIGKILL `webhooks deliver` while it works through a batch; the next run delivers everything."""
    allow_private_targets()
    with LoopbackServer() as server:
        server.route("POST", "/hook", Reply(200, delay_s=0.02))
        cli("--json", "webhooks", "create", "--url", server.url + "/hook", "--events", "load.*")
        base = SqliteStore(home / "fabric.db")
        try:
            ids = [uuid.uuid4().hex for _ in range(200)]
            SqliteEventStore(base).append_events(
                [
                    IntegrationEvent(
                        id=i,
                        type="load.item",
                        source="test",
                        tenant_id="default",
                        timestamp="2026-01-01T00:00:00.000000Z",
                        data={"i": n},
                        correlation_id=i,
                        connector_id="test",
                    )
                    for n, i in enumerate(ids)
                ]
            )
        finally:
            base.close()
        worker = subprocess.Popen(
            [*CLI, "webhooks", "deliver", "--workers", "2", "--lease-seconds", "2"],
            env=cli_env(home),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        _wait_for(lambda: len(server.calls("POST", "/hook")) >= 40, "the worker to get going")
        _kill(worker)
        assert len(server.calls("POST", "/hook")) < len(ids)
        rest = cli(
            "--json", "webhooks", "deliver", "--until-idle", "--max-seconds", "60", "--lease-seconds", "2"
        )
        assert rest.exit_code == 0
        received = {r.headers["webhook-id"] for r in server.calls("POST", "/hook")}
    assert received == set(ids)
