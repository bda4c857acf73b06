"""Opaque access tokens in SQL (:class:`~tessera.storage.protocols.OpaqueTokenStore`).

Rows are found by the SHA-256 of the token; the token itself is never stored. A row past its
``expires_at`` is still returned by :meth:`get_opaque` (introspection reports it inactive)
until :meth:`purge_opaque` drops it.
"""

from __future__ import annotations

import sqlalchemy as sa

from tessera.storage._sql_base import SqlBase
from tessera.storage.hot_reads import LIVE_OPAQUE, json_list
from tessera.storage.records import OpaqueToken
from tessera.storage.tables import opaque_tokens

__all__ = ["SqlOpaqueTokens"]

_t = opaque_tokens.c


class SqlOpaqueTokens(SqlBase):
    async def add_opaque(self, token: OpaqueToken) -> None:
        values = {
            "token_hash": token.token_hash,
            "tenant_id": token.tenant_id,
            "client_id": token.client_id,
            "subject": token.subject,
            "audience": list(token.audience),
            "scope": token.scope,
            "jti": token.jti,
            "issued_at": token.issued_at,
            "expires_at": token.expires_at,
        }
        # No hash or token in the message: only metadata.
        await self._add_row(opaque_tokens, values, "opaque token already exists", jti=token.jti)

    async def get_opaque(self, token_hash: bytes) -> OpaqueToken | None:
        query = sa.select(opaque_tokens).where(_t.token_hash == token_hash)
        async with self._read() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return None
        return OpaqueToken(
            token_hash=bytes(row["token_hash"]),
            tenant_id=row["tenant_id"],
            client_id=row["client_id"],
            subject=row["subject"],
            audience=tuple(row["audience"]),
            scope=row["scope"],
            jti=row["jti"],
            issued_at=row["issued_at"],
            expires_at=row["expires_at"],
        )

    async def find_live_opaque(self, token_hash: bytes, *, now: float) -> OpaqueToken | None:
        """The token if unexpired and its jti not revoked: one read, straight to the driver."""
        row = await self._hot.one(LIVE_OPAQUE, (token_hash, now, now))
        if row is None:
            return None
        tenant_id, client_id, subject, audience, scope, jti, issued_at, expires_at = row
        return OpaqueToken(
            token_hash=token_hash,
            tenant_id=tenant_id,
            client_id=client_id,
            subject=subject,
            audience=tuple(json_list(audience)),
            scope=scope,
            jti=jti,
            issued_at=issued_at,
            expires_at=expires_at,
        )

    async def delete_opaque(self, token_hash: bytes) -> bool:
        """True when a token was deleted."""
        async with self._write() as conn:
            result = await conn.execute(sa.delete(opaque_tokens).where(_t.token_hash == token_hash))
        return result.rowcount == 1

    async def purge_opaque(self, now: float) -> int:
        """Drop tokens with ``expires_at <= now``; returns how many."""
        async with self._write() as conn:
            result = await conn.execute(sa.delete(opaque_tokens).where(_t.expires_at <= now))
        return result.rowcount
