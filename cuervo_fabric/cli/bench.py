"""``cuervo-fabric bench``: measured ratios against baselines, side by side, in one run."""

from __future__ import annotations

import os
import platform
import sys
from typing import Annotated

import typer

from cuervo_fabric.cli import _render
from cuervo_fabric.errors import InvalidInputError

__all__ = ["bench_command"]


def bench_command(
    suites: Annotated[
        list[str] | None,
        typer.Argument(
            help="Suites to run: startup, gateway, webhooks (every module of cuervo_fabric.bench), or all.",
            metavar="[SUITE]...",
            show_default=False,
        ),
    ] = None,
    runs: Annotated[int, typer.Option("--runs", min=3, help="Process starts per side.")] = 15,
    calls: Annotated[int, typer.Option("--calls", min=100, help="In-process calls per side.")] = 2000,
    quick: Annotated[bool, typer.Option("--quick", help="Fewer runs and calls (a smoke test).")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when a target is missed.")] = False,
) -> None:
    """Measure cuervo-fabric against minimal baselines on this machine and print the ratios.

    It runs in a throwaway home against a loopback server (your data is not touched).

    Runs alternate between the two sides; medians are compared.

    Example: cuervo-fabric bench startup gateway
    """
    from cuervo_fabric.bench import BenchOptions, run_suites, suite_names

    known = suite_names()
    wanted = list(suites or ["all"])
    names = known if "all" in wanted else wanted
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidInputError(
            f"unknown benchmark suite {unknown[0]!r} (suites: {', '.join(known)}, all)",
            details={"field": "suite"},
        )
    options = BenchOptions(runs=runs, calls=calls, quick=quick)
    _render.info(
        f"cuervo-fabric bench on Python {platform.python_version()}, {os.cpu_count()} CPU(s), "
        f"{platform.system()} {platform.machine()}; medians of interleaved runs"
    )
    results = run_suites(names, options, _render.info)
    passed = all(c.passed for c in results)

    def human() -> None:
        out = ["", "Results (ours vs baseline, medians):"]
        for c in results:
            if c.kind == "ratio":
                measured, target = f"{c.value:.2f}x", f"<= {c.target:g}x"
            else:
                measured, target = f"+{c.value:.2f} {c.unit}", f"<= +{c.target:g} {c.unit}"
            out.append(
                f"  {'PASS' if c.passed else 'MISS'}  {c.suite}: {c.name}: {measured} (target {target}); "
                f"{c.ours:.3f} {c.unit} vs {c.baseline:.3f} {c.unit}"
            )
            out.append(f"        {c.ours_label} vs {c.baseline_label}")
        sys.stdout.write("\n".join(out) + "\n")

    _render.emit(
        {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "comparisons": [c.to_dict() for c in results],
            "passed": passed,
        },
        human,
    )
    if strict and not passed:
        raise typer.Exit(1)
