"""Fixtures of the store tests: the backends of the contract suite and fresh PostgreSQL schemas."""

from __future__ import annotations

from tests.contract.backends import backend, pg_schema, store

__all__ = ["backend", "pg_schema", "store"]
