"""Row-level security against a real PostgreSQL (issue 7 §2).

One fresh database per module (``CREATE DATABASE tessera_rls_<random>``) and fresh roles,
all dropped at the end. Unreachable PostgreSQL skips, except under ``CI``: there it fails.
The queries below deliberately omit ``WHERE tenant_id = …``: the policy alone must confine them.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg
import pytest
from sqlalchemy.engine import URL

import pg_fresh
from tessera.authz.rls import (
    check_role_is_confined,
    grant_api_role_sql,
    scoped_transaction,
    tenant_table_policy_sql,
)
from tessera.errors import ConfigurationError

INJECTION = "'; DROP TABLE events; --"


class Rollback(Exception):
    """Raised at the end of a scoped block to undo its writes."""


@dataclass(frozen=True)
class Cluster:
    url: URL  # the fresh database, as the administrator
    api_role: str
    owner_role: str

    async def connect(self, user: str | None = None) -> asyncpg.Connection:
        return await pg_fresh.connect(self.url, user)


async def _setup(cluster: Cluster) -> None:
    admin = await cluster.connect()
    try:
        await admin.execute(
            "CREATE TABLE events (id bigserial PRIMARY KEY, tenant_id text NOT NULL, "
            "subject text, payload text)"
        )
        for statement in tenant_table_policy_sql("events"):
            await admin.execute(statement)
        for statement in grant_api_role_sql(cluster.api_role, ["events"], login=True):
            await admin.execute(statement)
        # Seeded by the owner: FORCE binds postgres too, but a superuser bypasses RLS.
        await admin.executemany(
            "INSERT INTO events (tenant_id, subject, payload) VALUES ($1, $2, $3)",
            [
                ("a", "alice", "a-1"),
                ("a", "alice", "a-2"),
                ("b", "bob", "b-1"),
                ("b", "bob", "b-2"),
                ("b", "bob", "b-3"),
                ("", "nobody", "empty-tenant"),  # must never match an unset setting
            ],
        )
        # A non-superuser table owner, to show ownership alone is refused.
        await admin.execute(f'CREATE ROLE "{cluster.owner_role}" LOGIN NOSUPERUSER')
        await admin.execute("CREATE TABLE audit (id bigserial, tenant_id text NOT NULL)")
        await admin.execute(f'ALTER TABLE audit OWNER TO "{cluster.owner_role}"')
        for statement in tenant_table_policy_sql("audit"):
            await admin.execute(statement)
    finally:
        await admin.close()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    suffix = secrets.token_hex(6)
    api_role, owner_role = f"tessera_api_{suffix}", f"tessera_owner_{suffix}"
    with pg_fresh.fresh_database_sync("tessera_rls", [api_role, owner_role]) as url:
        cluster = Cluster(url, api_role, owner_role)
        asyncio.run(_setup(cluster))
        yield cluster


@pytest.fixture
async def api(cluster: Cluster):
    conn = await cluster.connect(cluster.api_role)
    try:
        yield conn
    finally:
        await conn.close()


def tenant(conn: asyncpg.Connection, tenant_id: str = "a"):
    return scoped_transaction(conn, tenant_id=tenant_id, subject="alice", scopes=["events:read"])


# ------------------------------------------------------------------ reads


async def test_raw_select_without_where_returns_only_the_tenants_rows(api):
    async with tenant(api):
        rows = await api.fetch("SELECT * FROM events ORDER BY id")
        count = await api.fetchval("SELECT count(*) FROM events")
    assert [r["payload"] for r in rows] == ["a-1", "a-2"]
    assert {r["tenant_id"] for r in rows} == {"a"}
    assert count == 2


async def test_other_tenant_sees_only_its_own(api):
    async with tenant(api, "b"):
        assert await api.fetchval("SELECT count(*) FROM events") == 3


async def test_settings_are_visible_inside_the_transaction(api):
    async with scoped_transaction(
        api, tenant_id="a", subject="alice", scopes=["b:write", "a:read", "a:read"]
    ):
        row = await api.fetchrow(
            "SELECT current_setting('tessera.tenant_id') AS t, "
            "current_setting('tessera.subject') AS s, current_setting('tessera.scopes') AS sc"
        )
    assert tuple(row) == ("a", "alice", "a:read b:write")


async def test_unset_tenant_sees_nothing(cluster):
    # A brand-new connection: the setting has never existed in this session (NULL).
    conn = await cluster.connect(cluster.api_role)
    try:
        assert await conn.fetch("SELECT * FROM events") == []
        assert await conn.fetchval("SELECT count(*) FROM events") == 0
    finally:
        await conn.close()


async def test_tenant_does_not_leak_into_the_next_transaction(api):
    async with tenant(api):
        assert await api.fetchval("SELECT count(*) FROM events") == 2
    # After SET LOCAL the placeholder reads '' (not NULL); the '' row must stay hidden.
    assert await api.fetchval("SELECT current_setting('tessera.tenant_id', true)") == ""
    assert await api.fetch("SELECT * FROM events") == []
    async with api.transaction():
        assert await api.fetchval("SELECT count(*) FROM events") == 0


async def test_rollback_also_clears_the_tenant(api):
    with pytest.raises(RuntimeError):
        async with tenant(api):
            raise RuntimeError
    assert await api.fetchval("SELECT count(*) FROM events") == 0


# ------------------------------------------------------------------ writes


async def test_insert_for_another_tenant_is_refused(api):
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant(api):
            await api.execute(
                "INSERT INTO events (tenant_id, subject, payload) VALUES ('b', 'alice', 'x')"
            )
    async with tenant(api, "b"):
        assert await api.fetchval("SELECT count(*) FROM events") == 3


async def test_insert_for_own_tenant_is_allowed(api):
    async def body():
        async with tenant(api, "a"):
            await api.execute(
                "INSERT INTO events (tenant_id, subject, payload) VALUES ('a', 'alice', 'a-new')"
            )
            assert await api.fetchval("SELECT count(*) FROM events") == 3
            raise Rollback

    with pytest.raises(Rollback):
        await body()


async def test_insert_without_tenant_is_refused(api):
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await api.execute("INSERT INTO events (tenant_id, payload) VALUES ('', 'x')")


async def test_update_and_delete_cannot_touch_other_tenants(api, cluster):
    async def body():
        async with tenant(api):
            assert await api.execute("UPDATE events SET payload = 'pwned'") == "UPDATE 2"
            assert await api.execute("DELETE FROM events WHERE tenant_id = 'b'") == "DELETE 0"
            # Moving own rows into another tenant violates WITH CHECK.
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with api.transaction():  # savepoint
                    await api.execute("UPDATE events SET tenant_id = 'b'")
            assert await api.execute("DELETE FROM events") == "DELETE 2"
            raise Rollback

    with pytest.raises(Rollback):
        await body()
    admin = await cluster.connect()
    try:
        b_rows = await admin.fetch("SELECT payload FROM events WHERE tenant_id = 'b' ORDER BY id")
    finally:
        await admin.close()
    assert [r["payload"] for r in b_rows] == ["b-1", "b-2", "b-3"]


# ------------------------------------------------------------------ hostile input


async def test_injection_in_tenant_id_is_just_a_value(api, cluster):
    async with scoped_transaction(api, tenant_id=INJECTION, subject=INJECTION, scopes=[]):
        assert await api.fetch("SELECT * FROM events") == []
        assert await api.fetchval("SELECT current_setting('tessera.tenant_id')") == INJECTION
    admin = await cluster.connect()
    try:
        assert await admin.fetchval("SELECT to_regclass('events') IS NOT NULL")
        assert await admin.fetchval("SELECT count(*) FROM events") >= 6
    finally:
        await admin.close()


async def test_empty_tenant_is_refused(api):
    with pytest.raises(ConfigurationError):
        async with scoped_transaction(api, tenant_id="", subject="s", scopes=[]):
            pass


@pytest.mark.parametrize("scopes", ["events:read", ["a b"], ['a"b'], [""], ["a\\b"]])
async def test_malformed_scopes_are_refused(api, scopes):
    with pytest.raises(ConfigurationError):
        async with scoped_transaction(api, tenant_id="a", subject="s", scopes=scopes):
            pass


# ------------------------------------------------------------------ role confinement


async def test_api_role_is_confined(api):
    await check_role_is_confined(api, ["events"])


async def test_superuser_is_refused(cluster):
    admin = await cluster.connect()
    try:
        with pytest.raises(ConfigurationError) as info:
            await check_role_is_confined(admin, ["events"])
    finally:
        await admin.close()
    assert info.value.fields["reason"] == "superuser"


async def test_table_owner_is_refused(cluster):
    owner = await cluster.connect(cluster.owner_role)
    try:
        with pytest.raises(ConfigurationError) as info:
            await check_role_is_confined(owner, ["audit"])
    finally:
        await owner.close()
    assert info.value.fields["reason"] == "owner"


async def test_bypassrls_member_is_refused(cluster):
    bypass = f"{cluster.api_role}_bypass"
    admin = await cluster.connect()
    try:
        await admin.execute(f'CREATE ROLE "{bypass}" NOLOGIN BYPASSRLS')
        await admin.execute(f'GRANT "{bypass}" TO "{cluster.api_role}"')
        conn = await cluster.connect(cluster.api_role)
        try:
            with pytest.raises(ConfigurationError) as info:
                await check_role_is_confined(conn, ["events"])
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP ROLE IF EXISTS "{bypass}"')
        await admin.close()
    assert info.value.fields["reason"] == "bypassrls"


async def test_table_without_forced_rls_is_refused(cluster, api):
    admin = await cluster.connect()
    try:
        await admin.execute("CREATE TABLE plain (tenant_id text)")
        await admin.execute(f'GRANT SELECT ON plain TO "{cluster.api_role}"')
        with pytest.raises(ConfigurationError) as info:
            await check_role_is_confined(api, ["events", "plain"])
        assert info.value.fields["reason"] == "rls_not_forced"
        with pytest.raises(ConfigurationError) as info:
            await check_role_is_confined(api, ["missing"])
        assert info.value.fields["reason"] == "missing_table"
    finally:
        await admin.execute("DROP TABLE IF EXISTS plain")
        await admin.close()


async def test_grant_is_idempotent_and_strips_dangerous_attributes(cluster):
    admin = await cluster.connect()
    try:
        await admin.execute(f'ALTER ROLE "{cluster.api_role}" BYPASSRLS')
        for statement in grant_api_role_sql(cluster.api_role, ["events"], login=True):
            await admin.execute(statement)
        row = await admin.fetchrow(
            "SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = $1",
            cluster.api_role,
        )
    finally:
        await admin.close()
    assert tuple(row) == (False, False, True)


# ------------------------------------------------------------------ identifier validation (unit)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Events",
        "1events",
        "events; DROP TABLE events",
        'ev"ents',
        "public.events",
        "évents",
        "a" * 64,
        "events\n",
        "events--",
    ],
)
def test_bad_identifiers_are_refused(name):
    with pytest.raises(ConfigurationError):
        tenant_table_policy_sql(name)
    with pytest.raises(ConfigurationError):
        tenant_table_policy_sql("events", tenant_column=name)
    with pytest.raises(ConfigurationError):
        grant_api_role_sql(name, ["events"])
    with pytest.raises(ConfigurationError):
        grant_api_role_sql("tessera_api", [name])


def test_policy_sql_shape():
    statements = tenant_table_policy_sql("events", tenant_column="org_id")
    assert statements[0] == 'ALTER TABLE "events" ENABLE ROW LEVEL SECURITY'
    assert statements[1] == 'ALTER TABLE "events" FORCE ROW LEVEL SECURITY'
    policy = statements[-1]
    assert policy.startswith('CREATE POLICY tessera_tenant_isolation ON "events" USING ("org_id"')
    assert policy.count("current_setting('tessera.tenant_id', true)") == 2
    assert all(";" not in s for s in statements)


def test_grant_needs_a_table():
    with pytest.raises(ConfigurationError):
        grant_api_role_sql("tessera_api", [])
