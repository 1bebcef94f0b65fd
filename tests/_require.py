"""Skips for missing parts that turn into failures in CI.

On a user's machine a test that needs PostgreSQL, gnome-keyring or node skips with a clear reason;
in CI (``CI`` set) the same missing part fails the run, because CI must exercise every part.
"""

from __future__ import annotations

import os
import socket

import pytest

__all__ = ["port_open", "require"]


def require(available: bool, what: str) -> None:
    """Skip (or, in CI, fail) unless ``available``."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"required part missing in CI: {what}", pytrace=False)
    pytest.skip(f"needs {what}")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
