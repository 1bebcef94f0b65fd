"""``cuervo-fabric demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["demo_command"]


def demo_command(
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Folder for the demo's state (default: a new temp folder)."),
    ] = None,
) -> None:
    """Run the main job offline: install a connector, log in, call a local API through the gateway.

    Example: cuervo-fabric demo
    """
    from cuervo_fabric.demo import run_demo

    code = run_demo(home)
    if code:
        raise typer.Exit(code)
