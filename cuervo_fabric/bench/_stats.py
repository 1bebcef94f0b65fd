"""Timing helpers: medians, percentiles, and wall time of a process."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Sequence

__all__ = ["median", "percentile", "time_process"]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def time_process(argv: Sequence[str], env: dict[str, str]) -> float:
    """Seconds from start to exit of one process; fails loudly if it fails."""
    started = time.perf_counter()
    proc = subprocess.run(  # noqa: S603 - our own CLI or python, fixed arguments
        list(argv),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[:4])} ... failed ({proc.returncode}): {proc.stderr.decode()[-500:]}"
        )
    return elapsed
