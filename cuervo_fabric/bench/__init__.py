"""``cuervo-fabric bench``: measured ratios, ours against a baseline, side by side in one run.

A suite is a module of this package (not starting with ``_``) that exposes::

    TITLE: str                                   # one line for --help
    def run(options: BenchOptions, echo) -> list[Comparison]

``bench SUITE`` runs one, ``bench all`` (the default) runs every suite found, in name order, so a
new suite (``bench webhooks`` from ``cuervo_fabric/bench/webhooks.py``) needs no other change.
Runs are interleaved (ours, baseline, baseline, ours, ...) and compared by their medians, because
this kind of machine is noisy; each comparison prints its target and PASS or MISS.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BenchOptions", "Comparison", "run_suites", "suite_names"]

Echo = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """Knobs every suite understands (each suite picks what applies)."""

    runs: int = 15  # process starts per side
    calls: int = 2000  # in-process calls per side
    quick: bool = False


@dataclass(slots=True)
class Comparison:
    """One measured ratio (or difference) and its target."""

    suite: str
    name: str
    ours: float
    baseline: float
    unit: str  # "ms" or "us"
    target: float
    #: "ratio": ours / baseline <= target; "added": ours - baseline <= target (in ``unit``).
    kind: str = "ratio"
    ours_label: str = "cuervo-fabric"
    baseline_label: str = "baseline"
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def value(self) -> float:
        if self.kind == "ratio":
            return self.ours / self.baseline if self.baseline else float("inf")
        return self.ours - self.baseline

    @property
    def passed(self) -> bool:
        return self.value <= self.target

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "name": self.name,
            "kind": self.kind,
            "ours": round(self.ours, 4),
            "baseline": round(self.baseline, 4),
            "unit": self.unit,
            "value": round(self.value, 4),
            "target": self.target,
            "passed": self.passed,
            "oursLabel": self.ours_label,
            "baselineLabel": self.baseline_label,
            "details": self.details,
        }


def suite_names() -> list[str]:
    """Every suite module of this package, by name (no suite is imported)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def run_suites(names: list[str], options: BenchOptions, echo: Echo) -> list[Comparison]:
    out: list[Comparison] = []
    for name in names:
        module = importlib.import_module(f"{__name__}.{name}")
        echo(f"# {name}: {module.TITLE}")
        out.extend(module.run(options, echo))
    return out
