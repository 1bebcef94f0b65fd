"""Row-level security on PostgreSQL: the policies themselves isolate tenants, not only our WHERE clauses.

These tests talk SQL directly as the non-owner role ``cuervo_app`` (what ``PostgresStore`` becomes
for tenant-scoped work), with statements that carry no tenant filter at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from cuervo_fabric.store.postgres import APP_ROLE, PostgresStore
from tests.contract.backends import PG_URL, schema_url
from tests.contract.factories import make_credential, make_instance

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(pg_schema: str) -> Iterator[PostgresStore]:
    """A migrated store in a fresh schema, holding instances of tenants ``a`` and ``b``."""
    store = PostgresStore(schema_url(pg_schema))
    for tenant in ("a", "b"):
        for name in ("one", "two"):
            inst = make_instance(tenant, name)
            store.insert_instance(inst)
            store.put_credential(make_credential(inst))
    yield store
    store.close()


@pytest.fixture
def conn(pg_schema: str, pg: PostgresStore) -> Iterator[psycopg.Connection]:
    """A raw connection to the same schema, outside the adapter."""
    with psycopg.connect(PG_URL) as c:
        c.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(pg_schema)))
        c.commit()
        yield c


def as_tenant(conn: psycopg.Connection, tenant: str | None) -> None:
    """Become ``cuervo_app`` for the current transaction, with ``app.current_tenant`` set (or not)."""
    conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(APP_ROLE)))
    if tenant is not None:
        conn.execute("SELECT set_config('app.current_tenant', %s, true)", (tenant,))


def test_app_role_is_neither_owner_nor_superuser(conn: psycopg.Connection) -> None:
    """RLS binds the role: it is no superuser, cannot bypass RLS and owns no table."""
    row = conn.execute(
        "SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = %s", (APP_ROLE,)
    ).fetchone()
    assert row == (False, False, False)
    owned = conn.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tableowner = %s",
        (APP_ROLE,),
    ).fetchone()
    assert owned == (0,)


def test_plain_select_shows_only_the_current_tenant(conn: psycopg.Connection) -> None:
    """``SELECT *`` with no WHERE returns tenant a's rows only, in both tenant-owned tables."""
    as_tenant(conn, "a")
    instances = conn.execute("SELECT DISTINCT tenant_id, count(*) FROM connector_instances GROUP BY 1")
    assert instances.fetchall() == [("a", 2)]
    creds = conn.execute("SELECT DISTINCT tenant_id FROM connector_credentials").fetchall()
    assert creds == [("a",)]


def test_update_and_delete_of_another_tenant_affect_no_row(conn: psycopg.Connection) -> None:
    """UPDATE and DELETE aimed at tenant b from tenant a match 0 rows; b's rows are intact."""
    as_tenant(conn, "a")
    upd = conn.execute("UPDATE connector_instances SET status = 'paused' WHERE tenant_id = 'b'")
    assert upd.rowcount == 0
    dele = conn.execute("DELETE FROM connector_instances WHERE tenant_id = 'b'")
    assert dele.rowcount == 0
    assert conn.execute("DELETE FROM connector_credentials WHERE tenant_id = 'b'").rowcount == 0
    everywhere = conn.execute("UPDATE connector_instances SET status_reason = 'touched'")
    assert everywhere.rowcount == 2
    conn.commit()
    untouched = conn.execute(
        "SELECT tenant_id, count(*) FROM connector_instances WHERE status_reason = 'touched' GROUP BY 1"
    ).fetchall()
    assert untouched == [("a", 2)]
    counts = conn.execute("SELECT tenant_id, count(*) FROM connector_credentials GROUP BY 1 ORDER BY 1")
    assert counts.fetchall() == [("a", 2), ("b", 2)]


def test_writing_a_row_of_another_tenant_is_refused(conn: psycopg.Connection) -> None:
    """WITH CHECK: tenant a can neither insert a row for b nor move its row to b."""
    as_tenant(conn, "a")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        conn.execute(
            "INSERT INTO connector_instances (id, tenant_id, connector_id, display_name, version,"
            " auth_type, installed_by) VALUES (%s, 'b', 'http', 'sneaky', '1.0.0', 'none', 'mallory')",
            (uuid.uuid4().hex,),
        )
    conn.rollback()
    as_tenant(conn, "a")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        conn.execute("UPDATE connector_instances SET tenant_id = 'b'")
    conn.rollback()


def test_no_tenant_set_sees_nothing(conn: psycopg.Connection) -> None:
    """Without ``app.current_tenant`` the app role sees no row (and no error)."""
    as_tenant(conn, None)
    assert conn.execute("SELECT count(*) FROM connector_instances").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM connector_credentials").fetchone() == (0,)


def test_owner_sees_every_tenant(conn: psycopg.Connection) -> None:
    """Platform-wide work (key rotation, the registry) runs as the owner, past the policies."""
    rows = conn.execute("SELECT tenant_id, count(*) FROM connector_instances GROUP BY 1 ORDER BY 1")
    assert rows.fetchall() == [("a", 2), ("b", 2)]


def test_app_role_cannot_write_the_registry(conn: psycopg.Connection, pg: PostgresStore) -> None:
    """The registry is platform-managed: tenants may read it but not change it."""
    pg.sync_registry([])
    as_tenant(conn, "a")
    conn.execute("SELECT count(*) FROM connector_registry")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM connector_registry")
    conn.rollback()


def test_every_tenant_owned_table_has_the_policy(conn: psycopg.Connection) -> None:
    """Each table with a ``tenant_id`` column has RLS enabled and a ``tenant_isolation`` policy.

    Later migrations that add tenant-owned tables (gateway, auth, events) are held to this too.
    """
    rows = conn.execute(
        "SELECT c.relname, c.relrowsecurity,"
        " EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = n.nspname"
        "         AND p.tablename = c.relname AND p.policyname = 'tenant_isolation')"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped"
        " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY 1"
    ).fetchall()
    names = {r[0] for r in rows}
    assert {"connector_instances", "connector_credentials", "webhook_subscriptions"} <= names
    unprotected = [name for name, enabled, policy in rows if not (enabled and policy)]
    assert unprotected == []


def test_adapter_runs_tenant_work_as_the_app_role(conn: psycopg.Connection, pg: PostgresStore) -> None:
    """A trigger records who writes: the adapter's tenant-scoped writes come from cuervo_app + tenant."""
    conn.execute(
        "CREATE TABLE rls_probe (who TEXT, tenant TEXT, op TEXT);"
        "CREATE FUNCTION rls_probe_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " INSERT INTO rls_probe VALUES (current_user, current_setting('app.current_tenant', true), TG_OP);"
        " RETURN NULL; END $$;"
        "CREATE TRIGGER rls_probe_t AFTER INSERT OR UPDATE OR DELETE ON connector_instances"
        " FOR EACH ROW EXECUTE FUNCTION rls_probe_fn();"
        "CREATE TRIGGER rls_probe_c AFTER INSERT OR UPDATE OR DELETE ON connector_credentials"
        " FOR EACH ROW EXECUTE FUNCTION rls_probe_fn();"
    )
    conn.commit()
    inst = make_instance("acme", "probe")
    pg.insert_instance(inst)
    pg.put_credential(make_credential(inst))
    pg.update_instance("acme", inst.id, {"status_reason": "checked"})
    pg.purge_instance_data("acme", inst.id)
    seen = conn.execute("SELECT who, tenant, op FROM rls_probe").fetchall()
    assert seen == [
        (APP_ROLE, "acme", "INSERT"),
        (APP_ROLE, "acme", "INSERT"),
        (APP_ROLE, "acme", "UPDATE"),
        (APP_ROLE, "acme", "DELETE"),
    ]
