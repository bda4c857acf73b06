"""Short-lived read-through caches for tenants and clients.

The token endpoint reads the client on every request; a round trip to the database for each
would dominate its cost. Entries live ``ttl`` seconds (default 5), so a disabled client or a
rotated secret takes effect everywhere within that bound; the CLI's changes in this process
invalidate at once. The database stays the only source of truth.

Loads are single-flight: when an entry expires under load, the requests that miss at the
same moment share ONE query instead of queueing dozens (that stampede stalled every
request behind it for tens of milliseconds).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tessera.storage.protocols import ClientStore, TenantStore
from tessera.storage.records import Client, Tenant

__all__ = ["Directory"]

T = TypeVar("T")


class Directory:
    def __init__(
        self, store: ClientStore | TenantStore, *, ttl: float, clock: Callable[[], float]
    ) -> None:
        self._store = store
        self.ttl = ttl
        self._clock = clock
        self._clients: dict[tuple[str, str], tuple[float, Client | None]] = {}
        self._tenants: dict[str, tuple[float, Tenant | None]] = {}
        self._inflight: dict[tuple[str, ...], asyncio.Future[Any]] = {}

    async def client(self, tenant_id: str, client_id: str) -> Client | None:
        now = self._clock()
        key = (tenant_id, client_id)
        hit = self._clients.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]

        async def load() -> Client | None:
            client = await self._store.get_client(tenant_id, client_id)  # type: ignore[union-attr]
            if len(self._clients) > 10_000:  # unknown ids are cached too; keep memory bounded
                self._clients.clear()
            self._clients[key] = (now, client)
            return client

        return await self._once(("client", *key), load)

    async def tenant(self, tenant_id: str) -> Tenant | None:
        now = self._clock()
        hit = self._tenants.get(tenant_id)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]

        async def load() -> Tenant | None:
            tenant = await self._store.get_tenant(tenant_id)  # type: ignore[union-attr]
            if len(self._tenants) > 1_000:
                self._tenants.clear()
            self._tenants[tenant_id] = (now, tenant)
            return tenant

        return await self._once(("tenant", tenant_id), load)

    async def _once(self, key: tuple[str, ...], load: Callable[[], Awaitable[T]]) -> T:
        """Run ``load`` once for every concurrent caller with the same ``key``."""
        pending = self._inflight.get(key)
        if pending is None:
            pending = asyncio.ensure_future(load())
            self._inflight[key] = pending
            pending.add_done_callback(lambda _f: self._inflight.pop(key, None))
        result: T = await asyncio.shield(pending)
        return result

    def invalidate(self) -> None:
        self._clients.clear()
        self._tenants.clear()
