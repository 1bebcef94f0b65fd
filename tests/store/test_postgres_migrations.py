"""PostgreSQL specifics: migrations under an advisory lock, schemas, connection errors."""

from __future__ import annotations

import threading

import psycopg
import pytest
from psycopg import sql

from cuervo_fabric.errors import InternalError, InvalidInputError
from cuervo_fabric.store.migrations import migrations
from cuervo_fabric.store.postgres import PostgresStore, split_schema
from tests.contract.backends import PG_URL, schema_url
from tests.contract.factories import make_instance


def owner_query(schema: str, query: str) -> list[tuple]:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        return conn.execute(query).fetchall()


@pytest.mark.postgres
def test_processes_migrating_at_once_apply_each_migration_once(pg_schema: str) -> None:
    """Eight connections opening a fresh schema together all succeed; each version is recorded once."""
    start = threading.Barrier(8)
    errors: list[BaseException] = []
    versions: list[int] = []

    def open_store() -> None:
        try:
            start.wait()
            store = PostgresStore(schema_url(pg_schema))
            versions.append(store.schema_version())
            store.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    latest = migrations("postgres")[-1][0]
    assert versions == [latest] * 8
    recorded = owner_query(pg_schema, "SELECT version, count(*) FROM schema_migrations GROUP BY 1 ORDER BY 1")
    assert recorded == [(v, 1) for v, _name, _sql in migrations("postgres")]


@pytest.mark.postgres
def test_store_lives_entirely_in_its_schema(pg_schema: str) -> None:
    """``?schema=`` creates the schema and puts every table there."""
    PostgresStore(schema_url(pg_schema)).close()
    tables = {
        r[0]
        for r in owner_query(pg_schema, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    }
    assert {
        "schema_migrations",
        "connector_registry",
        "connector_instances",
        "connector_credentials",
        "webhook_subscriptions",
        "webhook_deliveries",
        "integration_events",
    } <= tables


@pytest.mark.postgres
def test_two_schemas_are_two_separate_fabrics(pg_schema: str) -> None:
    """Stores in different schemas of one database share nothing."""
    first = PostgresStore(schema_url(pg_schema))
    second = PostgresStore(PG_URL, schema=pg_schema + "_b")
    try:
        inst = make_instance("acme")
        first.insert_instance(inst)
        assert second.get_instance("acme", inst.id) is None
        assert second.list_instances("acme") == []
    finally:
        first.close()
        second.conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(pg_schema + "_b")))
        second.close()


@pytest.mark.postgres
def test_a_newer_schema_is_refused(pg_schema: str) -> None:
    """A database migrated by a newer cuervo-fabric is not touched by an older one."""
    PostgresStore(schema_url(pg_schema)).close()
    owner_query(
        pg_schema, "INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future') RETURNING 1"
    )
    with pytest.raises(InternalError, match="newer than this cuervo-fabric knows"):
        PostgresStore(schema_url(pg_schema))


def test_unreachable_server_is_an_internal_error_without_the_password() -> None:
    """A connection failure names the server but never prints the password."""
    with pytest.raises(InternalError) as err:
        PostgresStore("postgresql://someone:s3cr3t-pw@127.0.0.1:1/nothing?schema=x")
    assert "127.0.0.1" in err.value.message
    assert "s3cr3t-pw" not in err.value.message
    assert "s3cr3t-pw" not in str(err.value)


def test_invalid_schema_name_is_invalid_input() -> None:
    """Only plain identifiers are accepted as schema names (checked before connecting)."""
    with pytest.raises(InvalidInputError) as err:
        PostgresStore("postgresql://127.0.0.1:1/x?schema=bad-name;drop")
    assert err.value.details["field"] == "database_url"


def test_split_schema_keeps_the_other_parameters() -> None:
    """``schema`` is taken out of the URL; libpq's own parameters stay."""
    assert split_schema("postgresql://u@h/db?sslmode=require&schema=s1") == (
        "postgresql://u@h/db?sslmode=require",
        "s1",
    )
    assert split_schema("postgresql://u@h/db") == ("postgresql://u@h/db", None)
    assert split_schema("host=h dbname=db") == ("host=h dbname=db", None)
