"""Shared fixtures: every test gets a clean environment and its own CUERVO_FABRIC_HOME."""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cuervo_fabric.gateway import retry

TEST_KEY = base64.b64encode(b"k" * 32).decode()


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh home, a fixed master key, no user profile or tenant, no real sleeping."""
    for name in list(os.environ):
        if name.startswith("CUERVO_FABRIC_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("CUERVO_FABRIC_HOME", str(home))
    monkeypatch.setenv("CUERVO_FABRIC_KEY", TEST_KEY)
    monkeypatch.setenv("CUERVO_FABRIC_NO_SLEEP", "1")
    retry.set_testing(True)
    yield home
    retry.set_testing(False)


@pytest.fixture
def home(clean_env: Path) -> Path:
    return clean_env


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for a real ``cuervo-fabric`` subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUERVO_FABRIC_")}
    env.update(CUERVO_FABRIC_HOME=str(home), CUERVO_FABRIC_KEY=TEST_KEY, CUERVO_FABRIC_NO_SLEEP="1")
    env.update(extra)
    return env


CLI = [sys.executable, "-m", "cuervo_fabric"]
