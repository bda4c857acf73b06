"""The data layer's one narrow interface, with a PostgreSQL and a SQLite implementation.

A :class:`Store` opens tenant-scoped sessions and answers the membership question
(it is the :class:`~tessera.authz.MembershipSource`). :func:`session_for` is how handlers
get a session: from a VERIFIED principal only, with its verified tenant.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from examples.data_api.session import Session
from examples.data_api.urls import DatabaseUrl
from tessera.authz import Principal
from tessera.errors import NotAMember

__all__ = ["Store", "open_store", "session_for"]


class Store(Protocol):
    @property
    def backend(self) -> str: ...

    def scoped(
        self, *, tenant_id: str, subject: str, scopes: Iterable[str]
    ) -> AbstractAsyncContextManager[Session]:
        """One transaction confined to ``tenant_id``."""
        ...

    async def roles(self, tenant_id: str, subject: str) -> frozenset[str] | None: ...

    async def close(self) -> None: ...


def session_for(store: Store, principal: Principal) -> AbstractAsyncContextManager[Session]:
    """A session for the principal's verified tenant; never for a merely claimed one."""
    if principal.verified_tenant is None or not principal.subject:
        raise NotAMember("membership has not been checked")
    return store.scoped(
        tenant_id=principal.verified_tenant, subject=principal.subject, scopes=principal.scopes
    )


async def open_store(database: DatabaseUrl, *, pool_size: int) -> Store:
    # Imported here: each backend's driver loads only when that backend is used.
    if database.backend == "postgresql":
        from examples.data_api.store_postgres import PostgresStore  # noqa: PLC0415

        return await PostgresStore.open(database, pool_size=pool_size)
    from examples.data_api.store_sqlite import SqliteStore  # noqa: PLC0415

    return await SqliteStore.open(database, pool_size=pool_size)
