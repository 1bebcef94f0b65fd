"""Fixtures of the event tests: fresh PostgreSQL schemas for the migration check."""

from __future__ import annotations

from tests.contract.backends import pg_schema

__all__ = ["pg_schema"]
