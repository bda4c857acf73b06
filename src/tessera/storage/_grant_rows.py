"""Rows of a grant (refresh family, refresh token, family token), shared by code redemption
(which creates a family) and refresh rotation (which extends one)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from tessera.storage.tables import family_tokens, refresh_families, refresh_tokens
from tessera.storage.user_records import FamilyToken, RefreshFamily, RefreshToken

__all__ = [
    "access_values",
    "family_from_row",
    "family_values",
    "insert_tokens",
    "token_from_row",
    "token_values",
]

_FAMILY_COLUMNS = tuple(column.name for column in refresh_families.c)


def family_values(family: RefreshFamily) -> dict[str, Any]:
    return {
        "family_id": family.family_id,
        "tenant_id": family.tenant_id,
        "client_id": family.client_id,
        "user_id": family.user_id,
        "session_id": family.session_id,
        "scope": family.scope,
        "audience": family.audience,
        "auth_time": family.auth_time,
        "created_at": family.created_at,
        "expires_at": family.expires_at,
        "revoked_at": family.revoked_at,
        "revoked_reason": family.revoked_reason,
    }


def family_from_row(row: RowMapping, prefix: str = "") -> RefreshFamily:
    """``prefix``: the label prefix of the family's columns in a joined row."""
    return RefreshFamily(**{name: row[prefix + name] for name in _FAMILY_COLUMNS})


def token_values(token: RefreshToken) -> dict[str, Any]:
    return {
        "token_hash": token.token_hash,
        "family_id": token.family_id,
        "tenant_id": token.tenant_id,
        "client_id": token.client_id,
        "generation": token.generation,
        "scope": token.scope,
        "issued_at": token.issued_at,
        "expires_at": token.expires_at,
        "rotated_at": token.rotated_at,
        "successor_hash": token.successor_hash,
    }


def token_from_row(row: RowMapping) -> RefreshToken:
    successor = row["successor_hash"]
    return RefreshToken(
        token_hash=bytes(row["token_hash"]),
        family_id=row["family_id"],
        tenant_id=row["tenant_id"],
        client_id=row["client_id"],
        generation=row["generation"],
        scope=row["scope"],
        issued_at=row["issued_at"],
        expires_at=row["expires_at"],
        rotated_at=row["rotated_at"],
        successor_hash=None if successor is None else bytes(successor),
    )


def access_values(access: FamilyToken) -> dict[str, Any]:
    return {
        "family_id": access.family_id,
        "tenant_id": access.tenant_id,
        "jti": access.jti,
        "expires_at": access.expires_at,
    }


async def insert_tokens(
    conn: AsyncConnection, refresh: RefreshToken | None, access: FamilyToken
) -> None:
    """Insert a refresh token (if any) and an access-token record, in the caller's transaction."""
    if refresh is not None:
        await conn.execute(sa.insert(refresh_tokens).values(token_values(refresh)))
    await conn.execute(sa.insert(family_tokens).values(access_values(access)))
