"""Signing keys in SQL (:class:`~tessera.storage.protocols.KeyStore`).

Only the schedule is stored; the state (next, active, retiring, retired) is derived from it by
:meth:`~tessera.storage.records.StoredKey.state`.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from tessera.errors import NotFoundError
from tessera.storage._sql_base import SqlBase
from tessera.storage.records import StoredKey
from tessera.storage.tables import signing_keys

__all__ = ["SqlKeys"]


def _from_row(row: RowMapping) -> StoredKey:
    return StoredKey(
        tenant_id=row["tenant_id"],
        kid=row["kid"],
        alg=row["alg"],
        public_jwk=dict(row["public_jwk"]),
        sealed_private=bytes(row["sealed_private"]),
        created_at=row["created_at"],
        activates_at=row["activates_at"],
        retires_at=row["retires_at"],
        removes_at=row["removes_at"],
    )


class SqlKeys(SqlBase):
    async def add_key(self, key: StoredKey) -> None:
        """Raises :class:`NotFoundError` for an unknown tenant, :class:`ConflictError` if taken."""
        values = {
            "tenant_id": key.tenant_id,
            "kid": key.kid,
            "alg": key.alg,
            "public_jwk": key.public_jwk,
            "sealed_private": key.sealed_private,
            "created_at": key.created_at,
            "activates_at": key.activates_at,
            "retires_at": key.retires_at,
            "removes_at": key.removes_at,
        }
        await self._add_row(
            signing_keys,
            values,
            "key id already exists",
            tenant_must_exist=key.tenant_id,
            tenant_id=key.tenant_id,
            kid=key.kid,
        )

    async def list_keys(self, tenant_id: str) -> list[StoredKey]:
        query = (
            sa.select(signing_keys)
            .where(signing_keys.c.tenant_id == tenant_id)
            .order_by(signing_keys.c.activates_at, signing_keys.c.kid)
        )
        async with self._read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_from_row(row) for row in rows]

    async def schedule_retirement(
        self, tenant_id: str, kid: str, *, retires_at: float, removes_at: float
    ) -> None:
        """Set (or move) when the key stops signing and when it leaves the JWKS."""
        if removes_at < retires_at:
            raise ValueError("removes_at must not be before retires_at")
        query = (
            sa.update(signing_keys)
            .where(signing_keys.c.tenant_id == tenant_id, signing_keys.c.kid == kid)
            .values(retires_at=retires_at, removes_at=removes_at)
        )
        async with self._write() as conn:
            result = await conn.execute(query)
        if result.rowcount != 1:
            raise NotFoundError("key does not exist", tenant_id=tenant_id, kid=kid)
