"""Refresh-token families in SQL (:class:`~tessera.storage.protocols.RefreshStore`).

Rotation is a compare-and-set in one write transaction: read the parent's family (locking
it), give up if it is revoked, then ``UPDATE refresh_tokens SET rotated_at, successor_hash
WHERE token_hash = parent AND rotated_at IS NULL``, and only if that changed one row insert
the successor and the access-token record. Any error rolls the whole transaction back, so a
parent is never marked rotated without its successor. Why no interleaving gets through:

- SQLite: writes begin ``IMMEDIATE``, taking the database's write lock before the first
  read; rotations, revocations and redemptions run one after another, and the second
  rotation of a parent reads it rotated.
- PostgreSQL (READ COMMITTED): :meth:`~SqlRefresh.rotate_refresh` and
  :meth:`~SqlRefresh.revoke_family` both start by locking the family row, so per family they
  serialize. A rotation queued behind a revocation then reads the family revoked (a locking
  read returns the newest committed row), and a revocation queued behind a rotation then
  lists the access token that rotation recorded, so its ``jti`` is denied too. Two rotations
  of one parent queue on the same lock; even without it, the ``UPDATE``'s
  ``rotated_at IS NULL`` is re-checked against the committed row, so one row updates once.

The lock is ``FOR NO KEY UPDATE``: it excludes the same lock and any ``UPDATE`` of the row,
but not the ``KEY SHARE`` that foreign-key checks take, so recording tokens elsewhere in the
family does not wait on it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tessera.errors import ConflictError
from tessera.storage._grant_rows import (
    access_values,
    family_from_row,
    insert_tokens,
)
from tessera.storage._sql_base import SqlBase
from tessera.storage.hot_reads import REFRESH_WITH_FAMILY
from tessera.storage.tables import family_tokens, refresh_families, refresh_tokens
from tessera.storage.user_records import FamilyToken, RefreshFamily, RefreshToken

__all__ = ["SqlRefresh"]

_f = refresh_families.c
_t = refresh_tokens.c
_a = family_tokens.c
_PREFIX = "family_"


def _lock_family(family_id: sa.ColumnElement[str] | str) -> sa.Select[tuple[str, float | None]]:
    return (
        sa.select(_f.family_id, _f.revoked_at)
        .where(_f.family_id == family_id)
        .with_for_update(key_share=True)  # SQLite: a no-op; the write lock already serializes
    )


class SqlRefresh(SqlBase):
    async def get_refresh(self, token_hash: bytes) -> tuple[RefreshToken, RefreshFamily] | None:
        # The refresh grant's first read: straight to the driver (hot_reads).
        row = await self._hot.one(REFRESH_WITH_FAMILY, (token_hash,))
        if row is None:
            return None
        successor = row[9]
        token = RefreshToken(
            token_hash=bytes(row[0]),
            family_id=row[1],
            tenant_id=row[2],
            client_id=row[3],
            generation=row[4],
            scope=row[5],
            issued_at=row[6],
            expires_at=row[7],
            rotated_at=row[8],
            successor_hash=None if successor is None else bytes(successor),
        )
        return token, RefreshFamily(*row[10:])

    async def get_family(self, family_id: str) -> RefreshFamily | None:
        query = sa.select(refresh_families).where(_f.family_id == family_id)
        async with self._read() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else family_from_row(row)

    async def rotate_refresh(
        self,
        parent_hash: bytes,
        *,
        successor: RefreshToken,
        access: FamilyToken,
        now: float,
    ) -> bool:
        """False for an unknown parent too. Raises :class:`ValueError` unless ``successor``
        and ``access`` belong to the parent's family, :class:`ConflictError` if the successor
        or the ``jti`` already exists; either way nothing is written."""
        if access.family_id != successor.family_id:
            raise ValueError("the access token must belong to the successor's family")
        fast = await self._hot_writes.rotate_refresh(parent_hash, successor, access, now)
        if fast is not None:
            return fast
        parent_family = sa.select(_t.family_id).where(_t.token_hash == parent_hash)
        rotate = (
            sa.update(refresh_tokens)
            .where(_t.token_hash == parent_hash, _t.rotated_at.is_(None))
            .values(rotated_at=now, successor_hash=successor.token_hash)
        )
        try:
            async with self._write() as conn:
                family = (await conn.execute(_lock_family(parent_family.scalar_subquery()))).first()
                if family is None or family.revoked_at is not None:
                    return False
                if family.family_id != successor.family_id:
                    raise ValueError("the successor must belong to the parent's family")
                if (await conn.execute(rotate)).rowcount != 1:
                    return False
                await insert_tokens(conn, successor, access)
        except IntegrityError as exc:
            raise ConflictError(
                "successor or access token already exists", family_id=successor.family_id
            ) from exc
        return True

    async def record_access(self, access: FamilyToken) -> bool:
        """False for a revoked or unknown family; :class:`ConflictError` for a ``jti``
        already recorded in it."""
        try:
            async with self._write() as conn:
                family = (await conn.execute(_lock_family(access.family_id))).first()
                if family is None or family.revoked_at is not None:
                    return False
                await conn.execute(sa.insert(family_tokens).values(access_values(access)))
        except IntegrityError as exc:
            raise ConflictError(
                "access token already recorded", family_id=access.family_id, jti=access.jti
            ) from exc
        return True

    async def revoke_family(
        self, family_id: str, *, reason: str, now: float
    ) -> tuple[bool, list[FamilyToken]]:
        """(False, []) for an unknown family. Tokens come ordered by ``expires_at``, ``jti``."""
        revoke = (
            sa.update(refresh_families)
            .where(_f.family_id == family_id)
            .values(revoked_at=now, revoked_reason=reason)
        )
        live = (
            sa.select(family_tokens)
            .where(_a.family_id == family_id, _a.expires_at > now)
            .order_by(_a.expires_at, _a.jti)
        )
        async with self._write() as conn:
            family = (await conn.execute(_lock_family(family_id))).first()
            if family is None:
                return False, []
            newly = family.revoked_at is None
            if newly:
                await conn.execute(revoke)
            rows = (await conn.execute(live)).mappings().all()
        tokens = [
            FamilyToken(
                family_id=row["family_id"],
                tenant_id=row["tenant_id"],
                jti=row["jti"],
                expires_at=row["expires_at"],
            )
            for row in rows
        ]
        return newly, tokens

    async def families_of_session(self, tenant_id: str, session_id: str) -> list[str]:
        """Ordered by creation, then id."""
        query = (
            sa.select(_f.family_id)
            .where(_f.tenant_id == tenant_id, _f.session_id == session_id, _f.revoked_at.is_(None))
            .order_by(_f.created_at, _f.family_id)
        )
        async with self._read() as conn:
            return list((await conn.scalars(query)).all())

    async def purge_refresh(self, now: float) -> int:
        """Counts the tokens dropped with their families: they are deleted explicitly here
        rather than by the foreign keys' cascade, whose rows no driver reports."""
        ended = sa.select(_f.family_id).where(_f.expires_at <= now)
        statements = (
            sa.delete(family_tokens).where(sa.or_(_a.expires_at <= now, _a.family_id.in_(ended))),
            sa.delete(refresh_tokens).where(_t.family_id.in_(ended)),
            sa.delete(refresh_families).where(_f.expires_at <= now),
        )
        dropped = 0
        async with self._write() as conn:
            for statement in statements:
                dropped += (await conn.execute(statement)).rowcount
        return dropped
