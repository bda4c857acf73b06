"""Users in SQL (:class:`~tessera.storage.protocols.UserStore`).

The email is stored as the caller normalized it; uniqueness per tenant is the database's
(``uq_users_tenant_id_email``), so two concurrent sign-ups with one email cannot both succeed.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from tessera.errors import ConflictError, NotFoundError
from tessera.storage._sql_base import SqlBase
from tessera.storage.hot_reads import USER
from tessera.storage.tables import users
from tessera.storage.user_records import User

__all__ = ["SqlUsers"]

_KEY = ("tenant_id", "user_id")
_t = users.c


def _to_row(user: User) -> dict[str, Any]:
    return {
        "tenant_id": user.tenant_id,
        "user_id": user.user_id,
        "email": user.email,
        "password_hash": user.password_hash,
        "name": user.name,
        "disabled": user.disabled,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


def _from_row(row: RowMapping) -> User:
    return User(
        tenant_id=row["tenant_id"],
        user_id=row["user_id"],
        email=row["email"],
        password_hash=row["password_hash"],
        name=row["name"],
        disabled=bool(row["disabled"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class SqlUsers(SqlBase):
    async def add_user(self, user: User) -> None:
        """Raises :class:`NotFoundError` for an unknown tenant, :class:`ConflictError` when
        the user id or the email is taken in the tenant."""
        # The email is personal data: not in the message, nor in the fields.
        await self._add_row(
            users,
            _to_row(user),
            "user id or email already exists",
            tenant_must_exist=user.tenant_id,
            tenant_id=user.tenant_id,
            user_id=user.user_id,
        )

    async def get_user(self, tenant_id: str, user_id: str) -> User | None:
        # On every refresh and login session check: straight to the driver (hot_reads).
        row = await self._hot.one(USER, (tenant_id, user_id))
        if row is None:
            return None
        tenant, uid, email, password_hash, name, disabled, created_at, updated_at = row
        return User(tenant, uid, email, password_hash, name, bool(disabled), created_at, updated_at)

    async def find_user_by_email(self, tenant_id: str, email: str) -> User | None:
        query = sa.select(users).where(_t.tenant_id == tenant_id, _t.email == email)
        async with self._read() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else _from_row(row)

    async def list_users(self, tenant_id: str) -> list[User]:
        query = sa.select(users).where(_t.tenant_id == tenant_id).order_by(_t.email)
        async with self._read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_from_row(row) for row in rows]

    async def replace_user(self, user: User) -> None:
        """Raises :class:`ConflictError` when the new email belongs to another user."""
        values = {k: v for k, v in _to_row(user).items() if k not in _KEY}
        query = (
            sa.update(users)
            .where(_t.tenant_id == user.tenant_id, _t.user_id == user.user_id)
            .values(values)
        )
        try:
            async with self._write() as conn:
                result = await conn.execute(query)
        except IntegrityError as exc:
            raise ConflictError(
                "email already exists", tenant_id=user.tenant_id, user_id=user.user_id
            ) from exc
        if result.rowcount != 1:
            raise NotFoundError(
                "user does not exist", tenant_id=user.tenant_id, user_id=user.user_id
            )
