"""Tenants in SQL (:class:`~tessera.storage.protocols.TenantStore`)."""

from __future__ import annotations

import sqlalchemy as sa

from tessera.storage._sql_base import SqlBase
from tessera.storage.records import Tenant
from tessera.storage.tables import tenants

__all__ = ["SqlTenants"]


class SqlTenants(SqlBase):
    async def add_tenant(self, tenant: Tenant) -> None:
        values = {"id": tenant.id, "name": tenant.name, "created_at": tenant.created_at}
        await self._add_row(tenants, values, "tenant already exists", tenant_id=tenant.id)

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        async with self._read() as conn:
            row = (await conn.execute(sa.select(tenants).where(tenants.c.id == tenant_id))).first()
        return None if row is None else Tenant(row.id, row.name, row.created_at)

    async def list_tenants(self) -> list[Tenant]:
        """All tenants, ordered by id."""
        async with self._read() as conn:
            rows = (await conn.execute(sa.select(tenants).order_by(tenants.c.id))).all()
        return [Tenant(row.id, row.name, row.created_at) for row in rows]
