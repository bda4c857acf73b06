"""What every SQL repository shares: the engines, the dialect's upsert, error translation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tessera.errors import ConflictError, NotFoundError, StorageError
from tessera.storage.engine import WRITE
from tessera.storage.hot_reads import make_hot_reads
from tessera.storage.hot_writes import make_hot_writes
from tessera.storage.tables import tenants

__all__ = ["SqlBase"]

# Failures of the database itself (unreachable, locked past the busy timeout, connection
# dropped), as opposed to bugs; they surface as StorageError so the edge can answer 503.
_UNAVAILABLE = (OperationalError, InterfaceError, OSError)


class SqlBase:
    """Holds the engine; each repository mixin of :class:`~tessera.storage.sql.SqlStore`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE: True})
        self._hot = make_hot_reads(engine.url)
        self._hot_writes = make_hot_writes(
            engine.url.database or ":memory:"
            if engine.url.get_backend_name() == "sqlite"
            else self._hot
        )

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._engine.connect() as conn:
                yield conn
        except _UNAVAILABLE as exc:
            raise StorageError("the database is unavailable") from exc

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """One transaction, committed on success; on SQLite it holds the write lock throughout.

        On SQLite the writers of this process queue on one lock first (``hot_writes``)."""
        gate = self._hot_writes.gate
        if gate is None:
            async with self._begin() as conn:
                yield conn
            return
        async with gate, self._begin() as conn:
            yield conn

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._writer.begin() as conn:
                yield conn
        except _UNAVAILABLE as exc:
            raise StorageError("the database is unavailable") from exc

    async def _add_row(
        self,
        table: sa.Table,
        values: Mapping[str, Any],
        conflict: str,
        *,
        tenant_must_exist: str | None = None,
        **fields: object,
    ) -> None:
        """Insert one row in its own transaction; a constraint violation is a ``ConflictError``.

        ``conflict`` and ``fields`` make its message and metadata (names and ids only, never a
        hash, token or personal data). With ``tenant_must_exist``, a violation caused by a
        missing tenant (the foreign key, not a duplicate) is a ``NotFoundError`` instead.
        """
        try:
            async with self._write() as conn:
                await conn.execute(sa.insert(table).values(dict(values)))
        except IntegrityError as exc:
            if tenant_must_exist is not None and not await self._tenant_exists(tenant_must_exist):
                raise NotFoundError("tenant does not exist", tenant_id=tenant_must_exist) from exc
            raise ConflictError(conflict, **fields) from exc

    def _insert(self, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
        """An INSERT that supports ``ON CONFLICT`` on this engine's dialect."""
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    async def _tenant_exists(self, tenant_id: str) -> bool:
        async with self._read() as conn:
            found = await conn.scalar(sa.select(tenants.c.id).where(tenants.c.id == tenant_id))
        return found is not None
