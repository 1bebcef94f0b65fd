"""The crash tests of ``test_crash.py`` on PostgreSQL: SIGKILL the receiver under load, SIGKILL a
delivery worker mid-batch; nothing is lost.

The home's default profile points at a fresh schema in the PostgreSQL server on 127.0.0.1:5432
(``profiles.pg.database_url``), so ``serve``, ``webhooks deliver`` and the in-process CLI all use
``PostgresStore`` and ``PostgresEventStore``. What the tests check they read from PostgreSQL itself;
they also check that the home's SQLite file took no part.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from cuervo_fabric.bootstrap import Fabric
from cuervo_fabric.domain.models import IntegrationEvent
from cuervo_fabric.testing import LoopbackServer, Reply
from tests.conftest import CLI, cli_env
from tests.contract.backends import PG_URL, pg_schema, schema_url
from tests.helpers import cli
from tests.webhooks._support import allow_private_targets, github_endpoint, start_serve, wait_ready
from tests.webhooks.test_crash import LOADGEN, _kill, _lines, _wait_for

__all__ = ["pg_schema"]  # a fixture, used through pg_home

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_home(home: Path, pg_schema: str) -> str:
    """The home's default profile on a fresh PostgreSQL schema (dropped afterwards); its name."""
    for key, value in (("profiles.pg.database_url", schema_url(pg_schema)), ("default_profile", "pg")):
        res = cli("config", "set", key, value)
        assert res.exit_code == 0, res.stdout + res.stderr
    fab = Fabric()
    try:
        assert fab.store.backend == "postgres"
        assert type(fab.event_store).__name__ == "PostgresEventStore"
    finally:
        fab.close()
    return pg_schema


def _pg(schema: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of one statement run in ``schema`` as the owner (RLS does not hide other tenants)."""
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        return [tuple(r) for r in conn.execute(statement, params).fetchall()]


def _assert_sqlite_unused(home: Path) -> None:
    """The home's SQLite file holds no event: everything went to PostgreSQL. (With a PostgreSQL
    profile the file is not even created today; should it ever be, it must stay empty of events.)"""
    path = home / "fabric.db"
    if not path.exists():
        return
    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in ("integration_events", "event_deliveries", "webhook_deliveries"):
            if table in tables:
                assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
    finally:
        conn.close()


def test_sigkilled_receiver_on_postgres_loses_no_acknowledged_webhook_and_every_event_reaches_subscribers(
    home: Path, tmp_path: Path, pg_home: str
) -> None:
    """After SIGKILLs under load every 2xx'd delivery is in PostgreSQL exactly once (a retried
    delivery answers with the original event's id) and reaches the subscriber."""
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
        kills = 0
        try:
            # Five kills (two in test_crash.py): a kill between a batch's commit and its answers,
            # whose retries must be recognised as the same deliveries, comes up in about one run
            # of three; the redelivery below checks that path every run.
            for threshold in (30, 70, 110, 150, 180):
                _wait_for(
                    lambda t=threshold: len(_lines(out_file)) >= t, f"{threshold} acknowledged deliveries"
                )
                _kill(serve)
                kills += 1
                # Killed mid-load: some deliveries are acknowledged, the rest are not yet.
                assert len(_lines(out_file)) < count
                serve = start_serve(home, "--lease-seconds", "2", port=int(port))
                wait_ready(serve)
            assert load.wait(120) == 0
            # GitHub's "redeliver" of every acknowledged delivery: each is answered 2xx with the
            # event id it was first given, and none is logged again.
            again = subprocess.run(
                [
                    sys.executable,
                    str(LOADGEN),
                    url + ep["path"],
                    str(tmp_path / "secret"),
                    str(count),
                    str(tmp_path / "redelivered.txt"),
                ],
                env=cli_env(home),
                timeout=120,
                check=False,
            )
            assert again.returncode == 0
        finally:
            if load.poll() is None:
                load.kill()
                load.wait()
            _kill(serve)
        assert kills == 5
        # Whatever the killed servers had leased comes due again when the lease runs out.
        done = cli(
            "--json", "webhooks", "deliver", "--until-idle", "--max-seconds", "60", "--lease-seconds", "2"
        )
        assert done.exit_code == 0, done.stdout
        received = {r.headers["webhook-id"] for r in subscriber.calls("POST", "/events")}
    acked = dict(line.split() for line in _lines(out_file))
    assert len(acked) == count
    assert dict(line.split() for line in _lines(tmp_path / "redelivered.txt")) == acked
    rows = _pg(pg_home, "SELECT original_webhook_id, id FROM integration_events")
    logged = [r[0] for r in rows]
    assert sorted(logged) == sorted(acked), "each acknowledged delivery is logged exactly once"
    assert {r[0]: r[1] for r in rows} == acked
    assert set(acked.values()) <= received, "every event reached the subscriber"
    # PostgreSQL's own record agrees: one delivery per event for the subscription, every one done,
    # and a successful attempt for each in the delivery log.
    states = _pg(
        pg_home,
        "SELECT status, count(*), count(DISTINCT event_id) FROM event_deliveries"
        " WHERE subscriber_id = %s GROUP BY status",
        (sub["id"],),
    )
    assert states == [("done", count, count)]
    delivered = _pg(
        pg_home,
        "SELECT count(DISTINCT event_id) FROM webhook_deliveries WHERE subscription_id = %s AND success",
        (sub["id"],),
    )
    assert delivered == [(count,)]
    _assert_sqlite_unused(home)


def test_a_delivery_worker_on_postgres_killed_mid_batch_loses_nothing(home: Path, pg_home: str) -> None:
    """SIGKILL `webhooks deliver` while it works through a batch; its leases lapse in PostgreSQL
    and the next run delivers everything."""
    allow_private_targets()
    with LoopbackServer() as server:
        server.route("POST", "/hook", Reply(200, delay_s=0.02))
        sub = cli("--json", "webhooks", "create", "--url", server.url + "/hook", "--events", "load.*").json()
        ids = [uuid.uuid4().hex for _ in range(200)]
        fab = Fabric()
        try:
            assert fab.store.backend == "postgres"
            fab.event_store.append_events(
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
            fab.close()
        assert _pg(pg_home, "SELECT count(*) FROM integration_events") == [(len(ids),)]
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
        # The killed worker left leased, unfinished deliveries behind in PostgreSQL.
        left = _pg(
            pg_home,
            "SELECT count(*) FILTER (WHERE status = 'pending'),"
            " count(*) FILTER (WHERE status = 'pending' AND lease_owner IS NOT NULL)"
            " FROM event_deliveries WHERE subscriber_id = %s",
            (sub["id"],),
        )
        (pending, leased) = left[0]
        assert pending > 0
        assert leased > 0
        rest = cli(
            "--json", "webhooks", "deliver", "--until-idle", "--max-seconds", "60", "--lease-seconds", "2"
        )
        assert rest.exit_code == 0, rest.stdout
        received = {r.headers["webhook-id"] for r in server.calls("POST", "/hook")}
    assert received == set(ids)
    states = _pg(
        pg_home,
        "SELECT status, count(*) FROM event_deliveries WHERE subscriber_id = %s GROUP BY status",
        (sub["id"],),
    )
    assert states == [("done", len(ids))]
    _assert_sqlite_unused(home)
