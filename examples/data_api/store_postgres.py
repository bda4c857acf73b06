"""PostgreSQL: a pool of connections as the confined API role, every use under RLS.

:meth:`PostgresStore.open` refuses to start unless row-level security binds the role on
every tenant table (:func:`tessera.authz.rls.check_role_is_confined`: not a superuser, not
``BYPASSRLS``, not an owner, ``FORCE`` on). Each :meth:`~PostgresStore.scoped` block is one
transaction that first sets the caller's tenant (``SET LOCAL``), so a pooled connection never
carries a tenant into the next request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import asynccontextmanager

import asyncpg

from examples.data_api.migrate import TENANT_TABLES
from examples.data_api.queries import member_roles
from examples.data_api.session import POSTGRES, Dialect, Row
from examples.data_api.urls import DatabaseUrl
from tessera.authz.rls import check_role_is_confined, scoped_transaction

__all__ = ["PostgresSession", "PostgresStore"]

_ACQUIRE_TIMEOUT = 10.0
_CLOSE_TIMEOUT = 10.0


class PostgresSession:
    __slots__ = ("_conn",)

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    @property
    def dialect(self) -> Dialect:
        return POSTGRES

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        return list(await self._conn.fetch(sql, *args))

    async def execute(self, sql: str, *args: object) -> int:
        status: str = await self._conn.execute(sql, *args)
        # The command tag: "DELETE 1", "UPDATE 0", "INSERT 0 3" — the count is last.
        last = status.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0

    async def stream(self, sql: str, *args: object, batch: int) -> AsyncGenerator[list[Row], None]:
        # A server-side portal inside the scoped transaction, `batch` rows per round trip.
        rows: list[Row] = []
        async for record in self._conn.cursor(sql, *args, prefetch=batch):
            rows.append(record)
            if len(rows) >= batch:
                yield rows
                rows = []
        if rows:
            yield rows


class PostgresStore:
    backend = "postgresql"

    def __init__(self, pool: asyncpg.Pool, dsn: str) -> None:
        self._pool = pool
        self._dsn = dsn

    @classmethod
    async def open(cls, database: DatabaseUrl, *, pool_size: int) -> PostgresStore:
        """Connect and check confinement; raises ConfigurationError for a too-strong role."""
        dsn = database.asyncpg_dsn
        pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=pool_size, timeout=10, command_timeout=None
        )
        try:
            async with pool.acquire(timeout=_ACQUIRE_TIMEOUT) as conn:
                await check_role_is_confined(conn, TENANT_TABLES)
        except BaseException:
            await pool.close()
            raise
        return cls(pool, dsn)

    @property
    def dsn(self) -> str:
        """With the password: for the membership listener's own connection only."""
        return self._dsn

    @asynccontextmanager
    async def scoped(
        self, *, tenant_id: str, subject: str, scopes: Iterable[str]
    ) -> AsyncIterator[PostgresSession]:
        async with (
            self._pool.acquire(timeout=_ACQUIRE_TIMEOUT) as conn,
            scoped_transaction(conn, tenant_id=tenant_id, subject=subject, scopes=scopes),
        ):
            yield PostgresSession(conn)

    async def roles(self, tenant_id: str, subject: str) -> frozenset[str] | None:
        """:class:`~tessera.authz.MembershipSource`: read under RLS for the claimed tenant.

        Scoping the lookup to the tenant it asks about costs nothing and means even this
        query cannot read another tenant's memberships.
        """
        async with self.scoped(tenant_id=tenant_id, subject=subject, scopes=()) as session:
            return await member_roles(session, tenant_id, subject)

    async def close(self) -> None:
        try:
            # Graceful: lets a running export finish its transaction.
            await asyncio.wait_for(self._pool.close(), _CLOSE_TIMEOUT)
        except TimeoutError:
            self._pool.terminate()
