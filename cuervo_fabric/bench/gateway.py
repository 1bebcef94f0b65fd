"""In-process calls through the whole pipeline against the same calls with a bare httpx client.

Both sides send ``GET /x`` with the bearer token to the same loopback server (its own process,
as a provider would be) and parse the JSON answer. The pipeline side is what a long-running
process (the server) does per call: resolve the instance, check permission, cache, breaker,
take a token from the instance's per-minute bucket (one atomic statement in SQLite), inject the
vault's credential, send, parse the provider's rate-limit headers, and record metrics and an
audit row (written in batches by a writer thread, as the server does). Calls alternate one by
one between the two sides, so drift in the machine's load hits both alike.
"""

from __future__ import annotations

import time
from typing import Any

from cuervo_fabric.bench import BenchOptions, Comparison, Echo
from cuervo_fabric.bench._fixture import bench_fabric, use_env
from cuervo_fabric.bench._stats import median, percentile

__all__ = ["TITLE", "run"]

TITLE = "N sequential calls in one process: whole pipeline vs bare httpx"

TARGET_RATIO = 1.25
TARGET_P99_ADDED_MS = 1.0
WARMUP = 200


def run(options: BenchOptions, echo: Echo) -> list[Comparison]:
    import httpx

    from cuervo_fabric.bootstrap import Fabric

    calls = 300 if options.quick else options.calls
    with bench_fabric() as fx, use_env(fx.env):
        fabric = Fabric()
        fabric.background_telemetry()  # as the server runs it
        try:
            gateway = fabric.gateway
            instance_id = fabric.lifecycle.resolve(fabric.tenant, fx.instance).id
            client = httpx.Client(base_url=fx.url)
            headers = {"Authorization": f"Bearer {fx.token}"}
            params = {"path": "/x"}

            def bare() -> Any:
                return client.get("/x", headers=headers).json()

            def ours() -> Any:
                result = gateway.execute(instance_id, "request", params)
                if not result.success:
                    raise RuntimeError(f"pipeline call failed: {result.error}")
                return result

            for _ in range(WARMUP):
                bare()
                ours()
            b: list[float] = []
            o: list[float] = []
            perf = time.perf_counter
            for i in range(calls):
                pair = ((bare, b), (ours, o)) if i % 2 == 0 else ((ours, o), (bare, b))
                for fn, sink in pair:
                    t = perf()
                    fn()
                    sink.append(perf() - t)
            client.close()
        finally:
            fabric.close()
    ms = 1000.0
    details = {
        "calls": calls,
        "medianMs": {"ours": median(o) * ms, "baseline": median(b) * ms},
        "meanMs": {"ours": sum(o) / len(o) * ms, "baseline": sum(b) / len(b) * ms},
        "p99Ms": {"ours": percentile(o, 99) * ms, "baseline": percentile(b, 99) * ms},
    }
    echo(
        f"  {calls} calls each: median {median(o) * ms:.3f} ms vs {median(b) * ms:.3f} ms, "
        f"p99 {percentile(o, 99) * ms:.3f} ms vs {percentile(b, 99) * ms:.3f} ms"
    )
    return [
        Comparison(
            suite="gateway",
            name=f"{calls} calls, median per call",
            ours=median(o) * ms,
            baseline=median(b) * ms,
            unit="ms",
            target=TARGET_RATIO,
            ours_label="pipeline (all stages)",
            baseline_label="bare httpx",
            details=details,
        ),
        Comparison(
            suite="gateway",
            name="p99 added latency",
            ours=percentile(o, 99) * ms,
            baseline=percentile(b, 99) * ms,
            unit="ms",
            target=TARGET_P99_ADDED_MS,
            kind="added",
            ours_label="pipeline p99",
            baseline_label="bare httpx p99",
            details=details,
        ),
    ]
