"""The events migration: SQLite keeps events logged before it; PostgreSQL gets the same tables with RLS."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from cuervo_fabric.store.migrations import migrations
from cuervo_fabric.store.sqlite import SqliteStore, _split_sql
from cuervo_fabric.store.sqlite_events import SqliteEventStore
from tests.contract.backends import PG_URL, schema_url

NEW_TABLES = {"event_subscribers", "event_deliveries", "webhook_endpoints"}


def test_sqlite_migration_keeps_events_logged_before_it(tmp_path: Path):
    """An event logged by an older schema survives the upgrade and gets log position 1."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for version, _name, text in migrations("sqlite"):
        if version >= 4:
            break
        for statement in _split_sql(text):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
    conn.execute(
        "INSERT INTO integration_events (id, tenant_id, type, source, data, connector_id, created_at)"
        " VALUES ('e1', 'default', 'github.push', 'src', ?, 'github', '2026-01-01T00:00:00.000000Z')",
        ('{"a": 1}',),
    )
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    try:
        [stored] = SqliteEventStore(store).list_events("default")
        assert (stored.seq, stored.event.id, stored.event.data) == (1, "e1", {"a": 1})
        names = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert names >= NEW_TABLES
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_migration_creates_the_event_tables_with_row_level_security(pg_schema: str):
    """On PostgreSQL the same tables exist, tenant-owned ones under the tenant_isolation policy."""
    from cuervo_fabric.store.postgres import PostgresStore

    PostgresStore(schema_url(pg_schema)).close()
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(pg_schema)))
        rls = dict(
            conn.execute(
                "SELECT relname, relrowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND relkind = 'r'",
                (pg_schema,),
            ).fetchall()
        )
        columns = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s"
                " AND table_name = 'integration_events'",
                (pg_schema,),
            ).fetchall()
        }
    assert all(rls[t] for t in NEW_TABLES)
    assert {"seq", "original_webhook_id", "target_subscriber"} <= columns
