"""Login sessions in SQL (:class:`~tessera.storage.protocols.SessionStore`).

A session is found by the SHA-256 of its cookie value, and ended by its public ``session_id``
(logout knows the ID token's ``sid``, not the cookie). An ended or expired row is kept only
until :meth:`purge_sessions`; it is never live again.
"""

from __future__ import annotations

import sqlalchemy as sa

from tessera.storage._sql_base import SqlBase
from tessera.storage.tables import login_sessions
from tessera.storage.user_records import LoginSession

__all__ = ["SqlSessions"]

_t = login_sessions.c


class SqlSessions(SqlBase):
    async def add_session(self, session: LoginSession) -> None:
        """Raises :class:`ConflictError` when the hash or the ``session_id`` is taken."""
        values = {
            "session_hash": session.session_hash,
            "session_id": session.session_id,
            "tenant_id": session.tenant_id,
            "user_id": session.user_id,
            "auth_time": session.auth_time,
            "created_at": session.created_at,
            "expires_at": session.expires_at,
            "ended_at": session.ended_at,
        }
        await self._add_row(
            login_sessions, values, "login session already exists", tenant_id=session.tenant_id
        )

    async def find_live_session(self, session_hash: bytes, *, now: float) -> LoginSession | None:
        query = sa.select(login_sessions).where(
            _t.session_hash == session_hash, _t.ended_at.is_(None), _t.expires_at > now
        )
        async with self._read() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return None
        return LoginSession(
            session_hash=bytes(row["session_hash"]),
            session_id=row["session_id"],
            tenant_id=row["tenant_id"],
            user_id=row["user_id"],
            auth_time=row["auth_time"],
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            ended_at=row["ended_at"],
        )

    async def end_session(self, tenant_id: str, session_id: str, *, now: float) -> bool:
        """True when the session was live; an expired one is left as it is."""
        query = (
            sa.update(login_sessions)
            .where(
                _t.tenant_id == tenant_id,
                _t.session_id == session_id,
                _t.ended_at.is_(None),
                _t.expires_at > now,
            )
            .values(ended_at=now)
        )
        async with self._write() as conn:
            result = await conn.execute(query)
        return result.rowcount == 1

    async def purge_sessions(self, now: float) -> int:
        """Drop sessions with ``expires_at <= now`` or ``ended_at <= now``."""
        query = sa.delete(login_sessions).where(sa.or_(_t.expires_at <= now, _t.ended_at <= now))
        async with self._write() as conn:
            result = await conn.execute(query)
        return result.rowcount
