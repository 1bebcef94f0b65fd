"""``cuervo-fabric metrics``: the gateway's metrics in the Prometheus text format (or JSON)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cuervo_fabric.cli import _render
from cuervo_fabric.cli._state import state

__all__ = ["metrics_command"]


def metrics_command(
    all_tenants: Annotated[
        bool, typer.Option("--all-tenants", help="Every tenant's series, not only the current one.")
    ] = False,
) -> None:
    """Print the gateway's metrics (the seed's names) in the Prometheus text format.

    Counters and histograms add up across CLI calls (they live in the store).

    Gauges (circuit state, tokens left, credential expiry) are read when you run it.

    Example: cuervo-fabric metrics > /var/lib/node_exporter/cuervo_fabric.prom
    """
    from cuervo_fabric.services.gateway import group_samples, prometheus_text

    fabric = state.fabric()
    samples = fabric.gateway_admin.metrics(None if all_tenants else fabric.tenant)
    if state.json:
        _render.emit(group_samples(samples))
    else:
        sys.stdout.write(prometheus_text(samples))
