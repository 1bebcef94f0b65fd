"""cuervo-fabric: an Integration Fabric (connectors, gateway, vault, events) and its CLI.

Public API: ``cuervo_fabric.sdk`` (write connectors), ``cuervo_fabric.testing`` (test them),
``cuervo_fabric.errors`` (the error tree) and the ``cuervo-fabric`` command. Everything else is
internal and may change without notice.
"""

from __future__ import annotations

from typing import Any

__all__ = ["__version__"]


def __getattr__(name: str) -> Any:
    # importlib.metadata costs milliseconds: only pay for it when asked.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("cuervo-fabric")
        except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
            return "0.0.0+unknown"
    raise AttributeError(name)
