"""Short-lived read-through caches for tenants and clients.

The token endpoint reads the client on every request; a round trip to the database for each
would dominate its cost. Entries live ``ttl`` seconds (default 5), so a disabled client or a
rotated secret takes effect everywhere within that bound; the CLI's changes in this process
invalidate at once. The database stays the only source of truth.
"""

from __future__ import annotations

from collections.abc import Callable

from tessera.storage.protocols import ClientStore, TenantStore
from tessera.storage.records import Client, Tenant

__all__ = ["Directory"]


class Directory:
    def __init__(
        self, store: ClientStore | TenantStore, *, ttl: float, clock: Callable[[], float]
    ) -> None:
        self._store = store
        self.ttl = ttl
        self._clock = clock
        self._clients: dict[tuple[str, str], tuple[float, Client | None]] = {}
        self._tenants: dict[str, tuple[float, Tenant | None]] = {}

    async def client(self, tenant_id: str, client_id: str) -> Client | None:
        now = self._clock()
        key = (tenant_id, client_id)
        hit = self._clients.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        client = await self._store.get_client(tenant_id, client_id)  # type: ignore[union-attr]
        if len(self._clients) > 10_000:  # unknown ids are cached too; keep memory bounded
            self._clients.clear()
        self._clients[key] = (now, client)
        return client

    async def tenant(self, tenant_id: str) -> Tenant | None:
        now = self._clock()
        hit = self._tenants.get(tenant_id)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        tenant = await self._store.get_tenant(tenant_id)  # type: ignore[union-attr]
        if len(self._tenants) > 1_000:
            self._tenants.clear()
        self._tenants[tenant_id] = (now, tenant)
        return tenant

    def invalidate(self) -> None:
        self._clients.clear()
        self._tenants.clear()
