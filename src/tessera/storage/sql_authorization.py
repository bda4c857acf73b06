"""Pending authorization requests and authorization codes in SQL
(:class:`~tessera.storage.protocols.AuthorizationStore`).

Both are single use, and both are enforced by one conditional statement in a write
transaction: :meth:`take_request` is a ``DELETE … RETURNING`` and :meth:`redeem_code` an
``UPDATE … WHERE consumed_at IS NULL``. On SQLite the transaction holds the write lock from
``BEGIN IMMEDIATE``; on PostgreSQL a concurrent statement waits for the row lock and then
re-checks its ``WHERE`` against the committed row, so it finds the row gone or consumed.
Either way exactly one caller wins.

A consumed code is kept for :data:`REPLAY_WINDOW` past its expiry, so that a replay is told
apart from an unknown code and revokes the family it created (RFC 9700 §4.5.3.1).
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from tessera.errors import ConflictError, StorageError
from tessera.storage._grant_rows import family_values, insert_tokens
from tessera.storage._sql_base import SqlBase
from tessera.storage.tables import authorization_codes, pending_requests, refresh_families
from tessera.storage.user_records import (
    AuthorizationCode,
    FamilyToken,
    PendingRequest,
    RefreshFamily,
    RefreshToken,
)

__all__ = ["REPLAY_WINDOW", "SqlAuthorization"]

REPLAY_WINDOW: Final = 86_400.0
"""Seconds a consumed code outlives its ``expires_at``."""

_r = pending_requests.c
_c = authorization_codes.c
_KINDS = frozenset({"par", "interaction"})
# The table's columns are the record's fields, one for one.
_CODE_COLUMNS = tuple(column.name for column in authorization_codes.c)


def _request_from_row(row: RowMapping) -> PendingRequest:
    # A value written by a newer or foreign program must not pass as a valid one.
    if row["kind"] not in _KINDS:
        raise StorageError("stored request has an unknown kind", tenant_id=row["tenant_id"])
    binding = row["binding_hash"]
    return PendingRequest(
        request_hash=bytes(row["request_hash"]),
        tenant_id=row["tenant_id"],
        client_id=row["client_id"],
        kind=row["kind"],
        params=dict(row["params"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        binding_hash=None if binding is None else bytes(binding),
    )


def _code_values(code: AuthorizationCode) -> dict[str, Any]:
    return {name: getattr(code, name) for name in _CODE_COLUMNS}


def _code_from_row(row: RowMapping) -> AuthorizationCode:
    values = dict(row)
    values["code_hash"] = bytes(row["code_hash"])
    values["claims"] = dict(row["claims"])
    return AuthorizationCode(**values)


class SqlAuthorization(SqlBase):
    async def add_request(self, request: PendingRequest) -> None:
        values = {
            "request_hash": request.request_hash,
            "tenant_id": request.tenant_id,
            "client_id": request.client_id,
            "kind": request.kind,
            "params": request.params,
            "created_at": request.created_at,
            "expires_at": request.expires_at,
            "binding_hash": request.binding_hash,
        }
        await self._add_row(
            pending_requests, values, "pending request already exists", tenant_id=request.tenant_id
        )

    async def get_request(self, request_hash: bytes, *, now: float) -> PendingRequest | None:
        query = sa.select(pending_requests).where(
            _r.request_hash == request_hash, _r.expires_at > now
        )
        async with self._read() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else _request_from_row(row)

    async def take_request(self, request_hash: bytes, *, now: float) -> PendingRequest | None:
        """An expired request is not taken; :meth:`purge_authorization` drops it."""
        query = (
            sa.delete(pending_requests)
            .where(_r.request_hash == request_hash, _r.expires_at > now)
            .returning(*pending_requests.c)
        )
        async with self._write() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else _request_from_row(row)

    async def add_code(self, code: AuthorizationCode) -> None:
        await self._add_row(
            authorization_codes,
            _code_values(code),
            "authorization code already exists",
            tenant_id=code.tenant_id,
        )

    async def get_code(self, code_hash: bytes) -> AuthorizationCode | None:
        query = sa.select(authorization_codes).where(_c.code_hash == code_hash)
        async with self._read() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else _code_from_row(row)

    async def redeem_code(
        self,
        code_hash: bytes,
        *,
        now: float,
        family: RefreshFamily,
        first: RefreshToken | None,
        access: FamilyToken,
    ) -> bool:
        """Expiry is the caller's check (it reads the code first to tell replay from unknown).

        Raises :class:`ValueError` unless ``family`` is the one the code was issued for and
        ``first`` and ``access`` belong to it; :class:`ConflictError` if the family, token or
        ``jti`` already exists. Either way nothing is written, the code stays unconsumed.
        """
        if access.family_id != family.family_id or (
            first is not None and first.family_id != family.family_id
        ):
            raise ValueError("first and access must belong to the family being created")
        consume = (
            sa.update(authorization_codes)
            .where(_c.code_hash == code_hash, _c.consumed_at.is_(None))
            .values(consumed_at=now)
            .returning(_c.family_id)
        )
        try:
            async with self._write() as conn:
                family_id = await conn.scalar(consume)
                if family_id is None:
                    return False
                if family_id != family.family_id:
                    raise ValueError("the family must be the one the code was issued for")
                await conn.execute(sa.insert(refresh_families).values(family_values(family)))
                await insert_tokens(conn, first, access)
        except IntegrityError as exc:
            raise ConflictError("grant already exists", family_id=family.family_id) from exc
        return True

    async def purge_authorization(self, now: float) -> int:
        """Drop requests with ``expires_at <= now``, unconsumed codes with ``expires_at <= now``
        and consumed ones with ``expires_at + REPLAY_WINDOW <= now``."""
        codes = sa.delete(authorization_codes).where(
            sa.or_(
                _c.expires_at <= now - REPLAY_WINDOW,
                sa.and_(_c.consumed_at.is_(None), _c.expires_at <= now),
            )
        )
        async with self._write() as conn:
            dropped = (await conn.execute(codes)).rowcount
            requests = sa.delete(pending_requests).where(_r.expires_at <= now)
            dropped += (await conn.execute(requests)).rowcount
        return dropped
