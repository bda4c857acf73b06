"""The SQL store: SQLite (embedded default) and PostgreSQL, on SQLAlchemy Core + asyncio.

:func:`open_store` is the entry point. Each aggregate's queries live in their own module
(``sql_clients``, ``sql_keys`` …); :class:`SqlStore` composes them into one
:class:`~tessera.storage.protocols.Store` sharing one engine (one connection pool).
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Self

from alembic.script import ScriptDirectory

from tessera.errors import SchemaOutdated, StorageError
from tessera.storage.engine import make_engine
from tessera.storage.migrate import HEAD_REVISION, alembic_config, read_revision
from tessera.storage.sql_authorization import SqlAuthorization
from tessera.storage.sql_clients import SqlClients
from tessera.storage.sql_consents import SqlConsents
from tessera.storage.sql_keys import SqlKeys
from tessera.storage.sql_leases import SqlLeases
from tessera.storage.sql_opaque import SqlOpaqueTokens
from tessera.storage.sql_refresh import SqlRefresh
from tessera.storage.sql_revocations import SqlRevocations
from tessera.storage.sql_sessions import SqlSessions
from tessera.storage.sql_tenants import SqlTenants
from tessera.storage.sql_users import SqlUsers

if TYPE_CHECKING:
    from tessera.storage.protocols import Store

__all__ = ["SqlStore", "open_store"]


class SqlStore(
    SqlTenants,
    SqlClients,
    SqlKeys,
    SqlRevocations,
    SqlOpaqueTokens,
    SqlLeases,
    SqlUsers,
    SqlSessions,
    SqlConsents,
    SqlAuthorization,
    SqlRefresh,
):
    """Every protocol of :mod:`tessera.storage.protocols` on one :class:`AsyncEngine`."""

    async def check_schema(self) -> None:
        """Raise :class:`SchemaOutdated` unless the database is at :data:`HEAD_REVISION`."""
        async with self._read() as conn:
            revision = await conn.run_sync(read_revision)
        if revision == HEAD_REVISION:
            return
        if revision is not None and not _is_known(revision):
            raise StorageError(
                f"database schema is at revision {revision}, newer than this code "
                f"(which needs {HEAD_REVISION}); upgrade Tessera",
                revision=revision,
                head=HEAD_REVISION,
            )
        raise SchemaOutdated(
            f"database schema is at revision {revision or 'none'}, code needs "
            f"{HEAD_REVISION}; run `tessera db upgrade`",
            revision=revision,
            head=HEAD_REVISION,
        )

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._hot_writes.close()
        await self._hot.close()
        await self._engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def open_store(url: str, *, check_schema: bool = True) -> SqlStore:
    """Connect to ``sqlite+aiosqlite:///path`` or ``postgresql+asyncpg://…``.

    With ``check_schema`` (the default) the database must be at the code's schema revision,
    else :class:`SchemaOutdated`; an unreachable database is a :class:`StorageError`.
    The caller closes the store (``await store.close()`` or ``async with``).
    """
    store = SqlStore(make_engine(url))
    if check_schema:
        try:
            await store.check_schema()
        except BaseException:
            await store.close()
            raise
    return store


def _is_known(revision: str) -> bool:
    scripts = ScriptDirectory.from_config(alembic_config())
    return any(script.revision == revision for script in scripts.walk_revisions())


if TYPE_CHECKING:

    def _implements_store(store: SqlStore) -> Store:
        return store
