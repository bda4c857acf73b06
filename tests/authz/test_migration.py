"""The Alembic helpers in a real migration against a real PostgreSQL (issue 7 §2).

Each PostgreSQL test gets a fresh database (``CREATE DATABASE tessera_mig_<random>``) and a
fresh API role, both dropped at the end. Unreachable PostgreSQL skips, except under ``CI``:
there it fails. The migration runs through ``MigrationContext`` + ``Operations`` exactly as
an application's revision would; the API role then queries without ``WHERE tenant_id = …``.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

import pg_fresh
from tessera.authz.migration import disable_tenant_rls, enable_tenant_rls, grant_api_role
from tessera.authz.rls import (
    POLICY_NAME,
    check_role_is_confined,
    drop_tenant_table_policy_sql,
    scoped_transaction,
)
from tessera.errors import ConfigurationError


@dataclass(frozen=True)
class Target:
    url: URL  # the fresh database, as the administrator who migrates
    api_role: str

    async def connect(self, user: str | None = None) -> asyncpg.Connection:
        return await pg_fresh.connect(self.url, user)


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    api_role = f"tessera_api_{secrets.token_hex(6)}"
    async with pg_fresh.fresh_database("tessera_mig", [api_role]) as url:
        yield Target(url.set(drivername="postgresql+asyncpg"), api_role)


# ------------------------------------------------------------------ the application's revision


def upgrade(op: Operations, api_role: str) -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger, primary_key=True),  # bigserial: the role needs USAGE
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("payload", sa.Text),
    )
    enable_tenant_rls(op, "events")
    grant_api_role(op, api_role, ("events",), login=True)


def downgrade(op: Operations) -> None:
    disable_tenant_rls(op, "events")
    op.drop_table("events")


async def migrate(target: Target, step) -> None:
    engine = create_async_engine(target.url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: step(Operations(MigrationContext.configure(sync))))
    finally:
        await engine.dispose()


async def seed(target: Target) -> None:
    admin = await target.connect()
    try:
        # The superuser administrator bypasses RLS: it can seed every tenant.
        await admin.executemany(
            "INSERT INTO events (tenant_id, payload) VALUES ($1, $2)",
            [("a", "a-1"), ("a", "a-2"), ("b", "b-1"), ("b", "b-2"), ("b", "b-3")],
        )
    finally:
        await admin.close()


# ------------------------------------------------------------------ PostgreSQL


async def test_upgrade_confines_the_api_role(target):
    await migrate(target, lambda op: upgrade(op, target.api_role))
    await seed(target)
    api = await target.connect(target.api_role)
    try:
        await check_role_is_confined(api, ["events"])
        assert await api.fetch("SELECT * FROM events") == []  # no tenant: nothing
        async with scoped_transaction(api, tenant_id="a", subject="alice", scopes=["x:read"]):
            rows = await api.fetch("SELECT * FROM events ORDER BY id")
            await api.execute("INSERT INTO events (tenant_id, payload) VALUES ('a', 'a-3')")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with api.transaction():  # savepoint
                    await api.execute("INSERT INTO events (tenant_id, payload) VALUES ('b', 'x')")
        async with scoped_transaction(api, tenant_id="b", subject="bob", scopes=[]):
            b_count = await api.fetchval("SELECT count(*) FROM events")
    finally:
        await api.close()
    assert [r["payload"] for r in rows] == ["a-1", "a-2"]
    assert {r["tenant_id"] for r in rows} == {"a"}
    assert b_count == 3


async def test_downgrade_disables_the_policy(target):
    await migrate(target, lambda op: upgrade(op, target.api_role))
    await seed(target)
    await migrate(target, lambda op: disable_tenant_rls(op, "events"))
    api = await target.connect(target.api_role)
    try:
        # The policy is gone: the same raw query now sees every tenant, and the start-up
        # check refuses to run the API on such a table.
        assert await api.fetchval("SELECT count(*) FROM events") == 5
        with pytest.raises(ConfigurationError) as info:
            await check_role_is_confined(api, ["events"])
        assert info.value.fields["reason"] == "rls_not_forced"
        state = await api.fetchrow(
            "SELECT relrowsecurity, relforcerowsecurity, "
            "(SELECT count(*) FROM pg_policies WHERE tablename = 'events') AS policies "
            "FROM pg_class WHERE oid = 'events'::regclass"
        )
    finally:
        await api.close()
    assert tuple(state) == (False, False, 0)
    # Disabling twice is harmless (DROP POLICY IF EXISTS), then the table goes.
    await migrate(target, downgrade)
    admin = await target.connect()
    try:
        assert await admin.fetchval("SELECT to_regclass('events')") is None
    finally:
        await admin.close()


# ------------------------------------------------------------------ without PostgreSQL


def offline(dialect: str) -> tuple[Operations, io.StringIO]:
    buffer = io.StringIO()
    context = MigrationContext.configure(
        dialect_name=dialect, opts={"as_sql": True, "output_buffer": buffer}
    )
    return Operations(context), buffer


def test_offline_migration_prints_the_statements():
    op, buffer = offline("postgresql")
    enable_tenant_rls(op, "events", tenant_column="org_id")
    grant_api_role(op, "tessera_api", ["events"])
    disable_tenant_rls(op, "events")
    sql = buffer.getvalue()
    assert 'ALTER TABLE "events" FORCE ROW LEVEL SECURITY' in sql
    assert f'CREATE POLICY {POLICY_NAME} ON "events" USING ("org_id" = ' in sql
    assert 'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "events" TO "tessera_api"' in sql
    assert 'ALTER TABLE "events" DISABLE ROW LEVEL SECURITY' in sql


@pytest.mark.parametrize("dialect", ["sqlite", "mysql"])
def test_other_dialects_are_refused_offline(dialect):
    op, buffer = offline(dialect)
    for helper in (
        lambda: enable_tenant_rls(op, "events"),
        lambda: disable_tenant_rls(op, "events"),
        lambda: grant_api_role(op, "tessera_api", ["events"]),
    ):
        with pytest.raises(ConfigurationError, match=dialect) as info:
            helper()
        assert info.value.fields["dialect"] == dialect
    assert buffer.getvalue() == ""


def test_sqlite_connection_is_refused():
    engine = sa.create_engine("sqlite://")
    try:
        with engine.begin() as conn:
            op = Operations(MigrationContext.configure(conn))
            op.create_table("events", sa.Column("id", sa.Integer, primary_key=True))
            with pytest.raises(ConfigurationError, match="sqlite"):
                enable_tenant_rls(op, "events")
            with pytest.raises(ConfigurationError, match="sqlite"):
                disable_tenant_rls(op, "events")
            with pytest.raises(ConfigurationError, match="sqlite"):
                grant_api_role(op, "tessera_api", ["events"])
    finally:
        engine.dispose()


@pytest.mark.parametrize("name", ["", "Events", "events; DROP TABLE events", 'ev"ents', "a" * 64])
def test_bad_identifiers_fail_before_any_statement(name):
    op, buffer = offline("postgresql")
    with pytest.raises(ConfigurationError):
        enable_tenant_rls(op, name)
    with pytest.raises(ConfigurationError):
        enable_tenant_rls(op, "events", tenant_column=name)
    with pytest.raises(ConfigurationError):
        disable_tenant_rls(op, name)
    with pytest.raises(ConfigurationError):
        grant_api_role(op, name, ["events"])
    with pytest.raises(ConfigurationError):
        grant_api_role(op, "tessera_api", ["events", name])
    with pytest.raises(ConfigurationError):
        drop_tenant_table_policy_sql(name)
    assert buffer.getvalue() == ""


def test_grant_needs_a_sequence_of_tables():
    op, buffer = offline("postgresql")
    with pytest.raises(ConfigurationError):
        grant_api_role(op, "tessera_api", "events")
    with pytest.raises(ConfigurationError):
        grant_api_role(op, "tessera_api", [])
    assert buffer.getvalue() == ""


def test_drop_policy_sql_shape():
    assert drop_tenant_table_policy_sql("events") == [
        f'DROP POLICY IF EXISTS {POLICY_NAME} ON "events"',
        'ALTER TABLE "events" NO FORCE ROW LEVEL SECURITY',
        'ALTER TABLE "events" DISABLE ROW LEVEL SECURITY',
    ]
