"""Revoked token ids in SQL (:class:`~tessera.storage.protocols.RevocationStore`).

An entry denies its ``jti`` while ``now < expires_at``; past that the token has expired anyway,
the entry counts as absent and :meth:`purge_revocations` may drop it. Callers add the verifiers'
clock-skew leeway to ``expires_at``.
"""

from __future__ import annotations

import sqlalchemy as sa

from tessera.storage._sql_base import SqlBase
from tessera.storage.hot_reads import REVOKED
from tessera.storage.tables import revoked_jtis

__all__ = ["SqlRevocations"]

_t = revoked_jtis.c


class SqlRevocations(SqlBase):
    async def revoke_jti(self, tenant_id: str, jti: str, *, expires_at: float, now: float) -> bool:
        """True when the ``jti`` was not revoked at ``now``.

        Revoking again is a no-op returning False, except that a later ``expires_at`` extends
        the entry (and re-announces it to :meth:`revoked_since`); an expired, unpurged entry
        is replaced as if absent.
        """
        insert = self._insert(revoked_jtis).values(
            tenant_id=tenant_id, jti=jti, expires_at=expires_at, revoked_at=now
        )
        upsert = insert.on_conflict_do_update(
            index_elements=[_t.tenant_id, _t.jti],
            set_={"expires_at": insert.excluded.expires_at, "revoked_at": now},
            where=_t.expires_at <= now,
        ).returning(_t.jti)
        extend = (
            sa.update(revoked_jtis)
            .where(_t.tenant_id == tenant_id, _t.jti == jti, _t.expires_at < expires_at)
            .values(expires_at=expires_at, revoked_at=now)
        )
        async with self._write() as conn:
            if (await conn.execute(upsert)).first() is not None:
                return True
            await conn.execute(extend)
        return False

    async def is_revoked(self, tenant_id: str, jti: str, *, now: float) -> bool:
        # On the request path (introspection): one indexed read, straight to the driver.
        return await self._hot.one(REVOKED, (tenant_id, jti, now)) is not None

    async def revoked_since(self, tenant_id: str, since: float) -> list[tuple[str, float]]:
        """Ordered by ``revoked_at``, then ``jti``."""
        query = (
            sa.select(_t.jti, _t.expires_at)
            .where(_t.tenant_id == tenant_id, _t.revoked_at >= since)
            .order_by(_t.revoked_at, _t.jti)
        )
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [(row.jti, row.expires_at) for row in rows]

    async def purge_revocations(self, now: float) -> int:
        async with self._write() as conn:
            result = await conn.execute(sa.delete(revoked_jtis).where(_t.expires_at <= now))
        return result.rowcount
