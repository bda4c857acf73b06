"""SQLite: a few connections, each confined by tenant views; the embedded variant.

Every connection gets :func:`tessera.authz.sqlite_scope.install_tenant_views`: a TEMP view
named like each tenant table shadows it and shows only the rows of the tenant set by
:func:`~tessera.authz.sqlite_scope.scoped_sqlite_transaction` (none outside one). That binds
the code that goes through these connections, and nothing else: any other connection to the
file, or SQL naming ``main.events``, sees every tenant. PostgreSQL's RLS binds the database
role itself, whatever the code does. The README says so.

Membership changes made by another process are seen when the cache entry expires (the
membership TTL, 5 s by default): SQLite has no NOTIFY.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import asynccontextmanager

import aiosqlite

from examples.data_api.migrate import TENANT_TABLES
from examples.data_api.queries import member_roles
from examples.data_api.session import SQLITE, Dialect, Row
from examples.data_api.urls import DatabaseUrl
from tessera.authz.sqlite_scope import install_tenant_views, scoped_sqlite_transaction
from tessera.errors import ConfigurationError

__all__ = ["SqliteSession", "SqliteStore"]

_ACQUIRE_TIMEOUT = 10.0


class SqliteSession:
    __slots__ = ("_conn",)

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    @property
    def dialect(self) -> Dialect:
        return SQLITE

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        async with self._conn.execute(sql, args) as cursor:
            return list(await cursor.fetchall())

    async def execute(self, sql: str, *args: object) -> int:
        async with self._conn.execute(sql, args) as cursor:
            return cursor.rowcount

    async def stream(self, sql: str, *args: object, batch: int) -> AsyncGenerator[list[Row], None]:
        async with self._conn.execute(sql, args) as cursor:
            while rows := await cursor.fetchmany(batch):
                yield list(rows)


class SqliteStore:
    backend = "sqlite"

    def __init__(self, connections: list[aiosqlite.Connection]) -> None:
        self._all = connections
        self._idle: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._cleanups: set[asyncio.Task[None]] = set()
        for conn in connections:
            self._idle.put_nowait(conn)

    @classmethod
    async def open(cls, database: DatabaseUrl, *, pool_size: int) -> SqliteStore:
        path = database.sqlite_path
        if not path.is_file():
            raise ConfigurationError(
                "SQLite database not found: run `python -m examples.data_api generate` first"
            )
        connections: list[aiosqlite.Connection] = []
        try:
            for _ in range(pool_size):
                conn = await aiosqlite.connect(path, isolation_level=None)
                connections.append(conn)
                await conn.execute("PRAGMA busy_timeout = 5000")
                await install_tenant_views(conn, TENANT_TABLES)
        except BaseException:
            for conn in connections:
                await conn.close()
            raise
        return cls(connections)

    @asynccontextmanager
    async def scoped(
        self, *, tenant_id: str, subject: str, scopes: Iterable[str]
    ) -> AsyncIterator[SqliteSession]:
        conn = await asyncio.wait_for(self._idle.get(), _ACQUIRE_TIMEOUT)
        try:
            async with scoped_sqlite_transaction(
                conn, tenant_id=tenant_id, subject=subject, scopes=scopes
            ) as scoped:
                yield SqliteSession(scoped)
        finally:
            self._release(conn)

    def _release(self, conn: aiosqlite.Connection) -> None:
        """Return ``conn`` to the pool; never awaits, so a cancellation cannot lose it."""
        if not conn.in_transaction:
            self._idle.put_nowait(conn)
            return
        # A cancelled block may have left its transaction open (its ROLLBACK was cancelled
        # too): roll back in a task of its own, then hand the connection out again.
        task = asyncio.ensure_future(self._rollback_then_release(conn))
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

    async def _rollback_then_release(self, conn: aiosqlite.Connection) -> None:
        with contextlib.suppress(sqlite3.Error):
            await conn.rollback()
        self._idle.put_nowait(conn)

    async def roles(self, tenant_id: str, subject: str) -> frozenset[str] | None:
        """:class:`~tessera.authz.MembershipSource`, read through the tenant views."""
        async with self.scoped(tenant_id=tenant_id, subject=subject, scopes=()) as session:
            return await member_roles(session, tenant_id, subject)

    async def close(self) -> None:
        for conn in self._all:
            await conn.close()
