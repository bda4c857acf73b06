"""A fresh PostgreSQL database (and throw-away roles) for a test, dropped at the end.

The cluster is ``TESSERA_TEST_DATABASE_URL`` (default: the local ``test`` database), as a
superuser; ``postgresql://`` and ``postgresql+asyncpg://`` forms both work. Each use gets its
own ``CREATE DATABASE <prefix>_<random>``; at the end it is dropped ``WITH (FORCE)``, then the
roles the caller named (roles are cluster-global: dropping the database first removes their
grants and ownerships in it). Unreachable PostgreSQL skips, except under ``CI``: there it fails.

A module imported by name (like ``required``), not a conftest.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Collection, Iterator
from contextlib import asynccontextmanager, contextmanager

import asyncpg
from sqlalchemy.engine import URL, make_url

from required import unavailable

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def admin_url() -> URL:
    """The administrator's URL of the test cluster (its database is where CREATE DATABASE runs)."""
    return make_url(os.environ.get("TESSERA_TEST_DATABASE_URL", DEFAULT_URL))


async def connect(url: URL, user: str | None = None) -> asyncpg.Connection:
    """An asyncpg connection to ``url``'s database, as ``user`` (default: the URL's user)."""
    dsn = url.set(drivername="postgresql", username=user or url.username or "postgres")
    return await asyncpg.connect(dsn.render_as_string(hide_password=False), timeout=5)


async def admin_execute(url: URL, *statements: str) -> None:
    """Run each statement, in order and outside a transaction, on ``url``'s database."""
    conn = await connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _create(prefix: str) -> URL:
    admin = admin_url()
    fresh = admin.set(database=f"{prefix}_{secrets.token_hex(6)}")
    try:
        await admin_execute(admin, f'CREATE DATABASE "{fresh.database}"')
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        unavailable(
            f"PostgreSQL unavailable at {admin.render_as_string()}: {exc!r}", "PostgreSQL backend"
        )
    return fresh


async def _drop(fresh: URL, roles: Collection[str]) -> None:
    await admin_execute(
        admin_url(),
        f'DROP DATABASE IF EXISTS "{fresh.database}" WITH (FORCE)',
        *(f'DROP ROLE IF EXISTS "{role}"' for role in roles),
    )


@asynccontextmanager
async def fresh_database(prefix: str, roles: Collection[str] = ()) -> AsyncIterator[URL]:
    """The URL (the admin's, driver as configured) of a new database; it and ``roles`` are
    dropped at the end. ``roles`` may be created by the caller, or not at all."""
    fresh = await _create(prefix)
    try:
        yield fresh
    finally:
        await _drop(fresh, roles)


@contextmanager
def fresh_database_sync(prefix: str, roles: Collection[str] = ()) -> Iterator[URL]:
    """:func:`fresh_database` for sync code (no event loop running in this thread)."""
    fresh = asyncio.run(_create(prefix))
    try:
        yield fresh
    finally:
        asyncio.run(_drop(fresh, roles))
