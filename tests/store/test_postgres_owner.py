"""A production-like owner: a plain login role (no superuser) migrates and uses the store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from cuervo_fabric.store.postgres import APP_ROLE, PostgresStore
from tests.contract.backends import PG_URL
from tests.contract.factories import make_credential, make_instance

pytestmark = pytest.mark.postgres


@pytest.fixture
def owner_url(pg_schema: str) -> Iterator[str]:
    """A throwaway NOSUPERUSER login role that may create schemas and roles; dropped afterwards."""
    role = f"t_owner_{uuid.uuid4().hex[:12]}"
    ident = sql.Identifier(role)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        dbname = conn.info.dbname
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER CREATEROLE").format(ident))
        conn.execute(sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(sql.Identifier(dbname), ident))
    parts = urlsplit(PG_URL)
    netloc = f"{role}@{parts.hostname}:{parts.port or 5432}"
    yield urlunsplit(parts._replace(netloc=netloc, query=f"schema={pg_schema}"))
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(pg_schema)))
        conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(ident))
        conn.execute(sql.SQL("DROP ROLE {}").format(ident))


def test_non_superuser_owner_migrates_and_tenants_stay_apart(owner_url: str) -> None:
    """The owner becomes a member of cuervo_app, tenant calls go through RLS, key rotation sees all."""
    store = PostgresStore(owner_url)
    try:
        user = store.conn.execute("SELECT current_user, pg_has_role(current_user, %s, 'MEMBER')", (APP_ROLE,))
        assert user.fetchone()[1] is True
        a = make_instance("a")
        b = make_instance("b")
        for inst in (a, b):
            store.insert_instance(inst)
            store.put_credential(make_credential(inst))
        assert [i.id for i in store.list_instances("a")] == [a.id]
        assert store.get_instance("a", b.id) is None
        assert store.delete_credentials("a", b.id) == 0
        assert sorted(r.tenant_id for r in store.iter_all_credentials()) == ["a", "b"]
    finally:
        store.close()
