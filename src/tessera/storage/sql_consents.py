"""Consents in SQL (:class:`~tessera.storage.protocols.ConsentStore`).

One row per (tenant, user, client); granting again replaces the scopes, so a narrower consent
really narrows. Scopes are a sorted JSON array, read back as a ``frozenset``.
"""

from __future__ import annotations

import sqlalchemy as sa

from tessera.storage._sql_base import SqlBase
from tessera.storage.tables import consents
from tessera.storage.user_records import Consent

__all__ = ["SqlConsents"]

_t = consents.c


class SqlConsents(SqlBase):
    async def get_consent(self, tenant_id: str, user_id: str, client_id: str) -> Consent | None:
        query = sa.select(consents).where(
            _t.tenant_id == tenant_id, _t.user_id == user_id, _t.client_id == client_id
        )
        async with self._read() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return None
        return Consent(
            tenant_id=row["tenant_id"],
            user_id=row["user_id"],
            client_id=row["client_id"],
            scopes=frozenset(row["scopes"]),
            granted_at=row["granted_at"],
        )

    async def put_consent(self, consent: Consent) -> None:
        insert = self._insert(consents).values(
            tenant_id=consent.tenant_id,
            user_id=consent.user_id,
            client_id=consent.client_id,
            scopes=sorted(consent.scopes),
            granted_at=consent.granted_at,
        )
        upsert = insert.on_conflict_do_update(
            index_elements=[_t.tenant_id, _t.user_id, _t.client_id],
            set_={"scopes": insert.excluded.scopes, "granted_at": insert.excluded.granted_at},
        )
        async with self._write() as conn:
            await conn.execute(upsert)
