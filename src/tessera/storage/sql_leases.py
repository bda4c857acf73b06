"""Leases in SQL (:class:`~tessera.storage.protocols.LeaseStore`): one holder at a time.

Used so that one instance among many runs a periodic job (key rotation, purges). Taking a
lease is a single conditional upsert, atomic across processes and machines on both backends:
the row is inserted, or overwritten only when its holder is the caller (renewal) or it has
expired (takeover); otherwise nothing is written and nothing is returned.
"""

from __future__ import annotations

import sqlalchemy as sa

from tessera.storage._sql_base import SqlBase
from tessera.storage.tables import leases

__all__ = ["SqlLeases"]

_t = leases.c


class SqlLeases(SqlBase):
    async def try_lease(self, name: str, holder: str, *, now: float, ttl: float) -> bool:
        """Take or renew ``name`` until ``now + ttl``; False while another holder's is live."""
        if ttl <= 0:
            raise ValueError("lease ttl must be positive")
        insert = self._insert(leases).values(name=name, holder=holder, expires_at=now + ttl)
        upsert = insert.on_conflict_do_update(
            index_elements=[_t.name],
            set_={"holder": insert.excluded.holder, "expires_at": insert.excluded.expires_at},
            where=sa.or_(_t.holder == insert.excluded.holder, _t.expires_at <= now),
        ).returning(_t.holder)
        async with self._write() as conn:
            won = (await conn.execute(upsert)).first()
        return won is not None

    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up; a no-op unless ``holder`` holds it."""
        async with self._write() as conn:
            await conn.execute(sa.delete(leases).where(_t.name == name, _t.holder == holder))
