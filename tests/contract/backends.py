"""The store backends the contract suite runs against, and fixtures shared with ``tests/store``.

SQLite uses a file in the test's tmp dir; PostgreSQL uses a fresh schema per test in the server on
127.0.0.1:5432 (``CUERVO_TEST_DATABASE_URL`` overrides the database), dropped afterwards, so
xdist workers never see each other's rows.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from cuervo_fabric.ports import Store
from cuervo_fabric.store.postgres import PostgresStore
from cuervo_fabric.store.sqlite import SqliteStore
from tests._require import port_open, require

__all__ = [
    "PG_URL",
    "Backend",
    "PostgresBackend",
    "SqliteBackend",
    "backend",
    "pg_available",
    "pg_schema",
    "require_postgres",
    "schema_url",
    "store",
]

PG_URL = os.environ.get("CUERVO_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


@functools.cache
def pg_available() -> bool:
    if not port_open("127.0.0.1", 5432):
        return False
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


def require_postgres() -> None:
    require(pg_available(), "PostgreSQL on 127.0.0.1:5432")


def schema_url(schema: str) -> str:
    """``PG_URL`` with ``?schema=`` (what a user puts in ``profiles.<name>.database_url``)."""
    return f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"


def drop_schema(schema: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


class Backend:
    """Opens stores on one database and runs raw SQL on it as the owner."""

    name: str

    def __init__(self) -> None:
        self.opened: list[Store] = []

    def open(self) -> Store:
        store = self._open()
        self.opened.append(store)
        return store

    def _open(self) -> Store:
        raise NotImplementedError

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement as the owner (``?`` placeholders) and return its rows."""
        raise NotImplementedError

    def cleanup(self) -> None:
        for s in self.opened:
            s.close()


class SqliteBackend(Backend):
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def _open(self) -> Store:
        return SqliteStore(self.path)

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            return [tuple(r) for r in conn.execute(statement, params).fetchall()]
        finally:
            conn.close()


class PostgresBackend(Backend):
    name = "postgres"

    def __init__(self, schema: str) -> None:
        super().__init__()
        self.schema = schema
        self.url = schema_url(schema)

    def _open(self) -> Store:
        return PostgresStore(self.url)

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            cur = conn.execute(statement.replace("?", "%s"), params)
            return [tuple(r) for r in cur.fetchall()] if cur.description else []

    def cleanup(self) -> None:
        super().cleanup()
        drop_schema(self.schema)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh schema name in the test database (needs PostgreSQL), dropped afterwards."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield schema
    drop_schema(schema)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each store backend in turn; the PostgreSQL one skips (fails in CI) without a server."""
    b: Backend
    if request.param == "postgres":
        require_postgres()
        b = PostgresBackend(f"t_{uuid.uuid4().hex[:16]}")
    else:
        b = SqliteBackend(tmp_path / "store" / "fabric.db")
    try:
        yield b
    finally:
        b.cleanup()


@pytest.fixture
def store(backend: Backend) -> Store:
    """An open, migrated store of the backend (closed by the backend's cleanup)."""
    return backend.open()
