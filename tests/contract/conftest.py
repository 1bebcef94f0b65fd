"""The contract suite's fixtures: ``store`` and ``backend``, parametrized over every backend."""

from __future__ import annotations

from tests.contract.backends import backend, pg_schema, store

__all__ = ["backend", "pg_schema", "store"]
