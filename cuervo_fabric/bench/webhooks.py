"""Webhooks in and out.

**Ingest.** A second process (``_loadgen``: asyncio, keep-alive connections) POSTs distinct
GitHub-signed deliveries as fast as answers come back, for a few seconds each, to

* ``cuervo-fabric serve``: finds the instance, verifies the signature, deduplicates, appends the
  event and commits (``synchronous = FULL``, group commit) before answering 202, and
* a bare uvicorn app that reads the body and answers 202 (``_bare202``), same uvicorn settings,

alternating (bare, ours, ours, bare, bare, ours) and comparing median requests per second; target:
ours is at least half the bare rate. Afterwards every 2xx'd request must be in the event log.

Why 64 connections: a receiver that fsyncs before answering is latency-bound per connection (a
sender waits for the commit), so its rate is connections / (fsync + work) while the bare endpoint
is bound by CPU alone. Group commit turns concurrency into throughput; 64 deliveries in flight is
an ordinary burst for a busy organisation, and at 32 the ratio moves with the disk's fsync time.

**Outgoing.** N events matching one subscription are delivered by the dispatcher (Standard
Webhooks signing, POST to a loopback receiver in its own process, attempts recorded in batches);
target: at least 1,000 deliveries per second. A bare threaded httpx loop POSTing the same number
of requests to the same receiver is measured too, for context.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cuervo_fabric.bench import BenchOptions, Comparison, Echo
from cuervo_fabric.bench._fixture import cli_argv, use_env
from cuervo_fabric.bench._server import spawn
from cuervo_fabric.bench._stats import median

__all__ = ["TITLE", "run"]

TITLE = "webhook ingest vs bare uvicorn answering 202; outgoing deliveries per second"

TARGET_INGEST_RATIO = 0.5
TARGET_DELIVERIES_PER_S = 1000.0
CONNECTIONS = 64


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [*cli_argv(), *args], env=env, input=stdin, text=True, capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"benchmark set-up failed: cuervo-fabric {' '.join(args[:3])}: {proc.stderr[-400:]}"
        )
    return proc.stdout


@contextmanager
def _home() -> Iterator[tuple[Path, dict[str, str]]]:
    home = Path(tempfile.mkdtemp(prefix="cuervo-fabric-bench-webhooks-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUERVO_FABRIC_")}
    env.update(CUERVO_FABRIC_HOME=str(home), CUERVO_FABRIC_KEY=base64.b64encode(os.urandom(32)).decode())
    try:
        yield home, env
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _start(argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(  # noqa: S603 - our own CLI or python, fixed arguments
        argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    url = str(json.loads(line)["url"]) if line.startswith("{") else line
    if not url.startswith("http://"):
        proc.kill()
        raise RuntimeError(f"{argv[-3:]} did not start")
    _wait_listening(url)
    return proc, url


def _wait_listening(url: str) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/healthz", timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} never answered")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _load(url: str, secret_file: Path, seconds: float, prefix: str, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(  # noqa: S603 - python running our own load generator
        [
            sys.executable,
            "-m",
            "cuervo_fabric.bench._loadgen",
            url,
            str(secret_file),
            str(seconds),
            str(CONNECTIONS),
            prefix,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the load generator failed: {out.stderr[-400:]}")
    result: dict[str, float] = json.loads(out.stdout)
    if result["failed"]:
        raise RuntimeError(f"{int(result['failed'])} webhook requests were not accepted")
    return result


def _ingest(home: Path, env: dict[str, str], options: BenchOptions, echo: Echo) -> Comparison:
    _cli(env, "--no-input", "connector", "install", "github", "--name", "gh")
    endpoint = json.loads(_cli(env, "--json", "webhooks", "endpoints", "gh", "--base-url", "http://base"))
    path = endpoint["url"].removeprefix("http://base")
    secret_file = home / "inbound-secret"
    secret_file.write_text(endpoint["secret"])
    seconds = 1.5 if options.quick else 3.0
    ours_proc, ours_url = _start([*cli_argv(), "--json", "serve", "--port", "0", "--no-deliver"], env)
    bare_proc, bare_url = _start([sys.executable, "-m", "cuervo_fabric.bench._bare202"], env)
    rates: dict[str, list[float]] = {"ours": [], "bare": []}
    accepted = 0
    try:
        order = ["bare", "ours"] if options.quick else ["bare", "ours", "ours", "bare", "bare", "ours"]
        for n, side in enumerate(order):
            url = (ours_url + path) if side == "ours" else (bare_url + "/webhooks/x/y")
            result = _load(url, secret_file, seconds, f"run{n}", env)
            rates[side].append(result["ok"] / result["seconds"])
            if side == "ours":
                accepted += int(result["ok"])
    finally:
        _stop(ours_proc)
        _stop(bare_proc)
    conn = sqlite3.connect(home / "fabric.db")
    try:
        stored = int(conn.execute("SELECT count(*) FROM integration_events").fetchone()[0])
    finally:
        conn.close()
    if stored != accepted:
        raise RuntimeError(f"{accepted} webhooks were acknowledged but {stored} are in the event log")
    ours_rps, bare_rps = median(rates["ours"]), median(rates["bare"])
    echo(
        f"  ingest: {ours_rps:,.0f} req/s verified and stored vs {bare_rps:,.0f} req/s bare 202 "
        f"(ratio {ours_rps / bare_rps:.2f}, target >= {TARGET_INGEST_RATIO}); {stored} events logged"
    )
    return Comparison(
        suite="webhooks",
        name="ingest, time per request (ratio <= 2 means >= half the bare rate)",
        ours=1e6 / ours_rps,
        baseline=1e6 / bare_rps,
        unit="us",
        target=1 / TARGET_INGEST_RATIO,
        ours_label="serve: verify + dedupe + durable write",
        baseline_label="bare uvicorn answering 202",
        details={
            "oursRequestsPerSecond": round(ours_rps, 1),
            "bareRequestsPerSecond": round(bare_rps, 1),
            "throughputRatio": round(ours_rps / bare_rps, 3),
            "targetThroughputRatio": TARGET_INGEST_RATIO,
            "connections": CONNECTIONS,
            "secondsPerRun": seconds,
            "runs": {k: [round(v, 1) for v in vals] for k, vals in rates.items()},
            "eventsLogged": stored,
        },
    )


def _outgoing(env: dict[str, str], options: BenchOptions, echo: Echo) -> Comparison:
    import httpx

    from cuervo_fabric.bootstrap import Fabric
    from cuervo_fabric.domain.models import IntegrationEvent
    from cuervo_fabric.webhooks.outbound import event_body

    count = 1000 if options.quick else 3000
    _cli(env, "config", "set", "webhooks.allow_private_targets", "true")
    receiver, rurl = spawn()
    try:
        with use_env(env):
            fabric = Fabric()
            try:
                fabric.webhooks.create(fabric.tenant, rurl + "/hook", ["bench.*"])
                events = [
                    IntegrationEvent(
                        id=os.urandom(16).hex(),
                        type="bench.item",
                        source="bench",
                        tenant_id=fabric.tenant,
                        timestamp="2026-01-01T00:00:00.000000Z",
                        data={"n": n, "pad": "x" * 600},
                        correlation_id=str(n),
                        connector_id="bench",
                    )
                    for n in range(count)
                ]
                fabric.event_store.append_events(events)
                dispatcher = fabric.webhook_dispatcher(workers=8, batch=400)
                try:
                    stats = dispatcher.run(until_idle=True, max_seconds=300)
                finally:
                    dispatcher.close()
            finally:
                fabric.close()
        if stats.delivered != count:
            raise RuntimeError(f"only {stats.delivered} of {count} deliveries succeeded")
        rate = stats.delivered / stats.seconds
        bodies = [event_body(ev, 1) for ev in events]
        bare_rate = _bare_posts(httpx, rurl + "/hook", bodies)
    finally:
        if receiver.stdin is not None:
            receiver.stdin.close()
        receiver.wait(timeout=10)
    echo(
        f"  outgoing: {rate:,.0f} deliveries/s ({count} events, signed, POSTed, recorded; "
        f"target >= {TARGET_DELIVERIES_PER_S:,.0f}); bare threaded httpx: {bare_rate:,.0f} POSTs/s"
    )
    return Comparison(
        suite="webhooks",
        name="outgoing, time per delivery vs the 1,000/s budget",
        ours=1e6 / rate,
        baseline=1e6 / TARGET_DELIVERIES_PER_S,
        unit="us",
        target=1.0,
        ours_label="dispatcher: lease, sign, POST, record",
        baseline_label="budget of 1,000 deliveries/s",
        details={
            "deliveriesPerSecond": round(rate, 1),
            "targetDeliveriesPerSecond": TARGET_DELIVERIES_PER_S,
            "events": count,
            "seconds": round(stats.seconds, 3),
            "bareHttpxPostsPerSecond": round(bare_rate, 1),
            "workers": 8,
        },
    )


def _bare_posts(httpx: Any, url: str, bodies: list[bytes]) -> float:
    from concurrent.futures import ThreadPoolExecutor

    with httpx.Client(limits=httpx.Limits(max_connections=16, max_keepalive_connections=16)) as client:

        def post(body: bytes) -> int:
            return int(
                client.post(url, content=body, headers={"Content-Type": "application/json"}).status_code
            )

        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(post, bodies))
        return len(bodies) / (time.perf_counter() - started)


def run(options: BenchOptions, echo: Echo) -> list[Comparison]:
    with _home() as (home, env):
        ingest = _ingest(home, env, options, echo)
        outgoing = _outgoing(env, options, echo)
    return [ingest, outgoing]
