"""Shared fixtures: a real fabric with this connector registered, in a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cuervo_fabric.testing import FabricHarness

from {{ package }}.connector import {{ class_name }}


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[FabricHarness]:
    """The fabric the CLI would build (store, vault, gateway), with this connector registered."""
    with FabricHarness(tmp_path / "fabric", connectors=[{{ class_name }}]) as fabric:
        yield fabric
