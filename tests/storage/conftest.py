"""Database fixtures: each storage test runs on a fresh SQLite file AND a fresh PostgreSQL DB.

PostgreSQL comes from ``TESSERA_TEST_DATABASE_URL`` (default: the local ``test`` database);
each test gets its own ``CREATE DATABASE``, dropped after. Unreachable PostgreSQL skips the
PostgreSQL half, except where ``CI`` is set: there it is a failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tessera.storage.migrate import upgrade
from tessera.storage.sql import SqlStore, open_store

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def _pg_url() -> str:
    return os.environ.get("TESSERA_TEST_DATABASE_URL", DEFAULT_PG_URL)


@asynccontextmanager
async def _fresh_postgres() -> AsyncIterator[str]:
    admin_url = make_url(_pg_url())
    name = f"tessera_test_{secrets.token_hex(6)}"
    admin = create_async_engine(
        admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"timeout": 5}
    )
    try:
        try:
            async with admin.connect() as conn:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
        except (OSError, SQLAlchemyError, asyncpg.PostgresError) as exc:
            reason = f"PostgreSQL unavailable at {admin_url.render_as_string()}: {exc!r}"
            if IN_CI:
                pytest.fail(reason + " (CI must run the PostgreSQL backend)", pytrace=False)
            pytest.skip(reason)
        try:
            yield admin_url.set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request, tmp_path) -> AsyncIterator[str]:
    """The URL of a fresh, EMPTY (un-migrated) database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'tessera.db'}"
        return
    async with _fresh_postgres() as url:
        yield url


@pytest.fixture
async def store(database_url) -> AsyncIterator[SqlStore]:
    """A migrated store on each backend, closed after the test."""
    await upgrade(database_url)
    opened = await open_store(database_url)
    try:
        yield opened
    finally:
        await opened.close()
