"""Point reads on the request path, straight to the database driver.

Introspection reads one row per request. Through SQLAlchemy's async layer that costs
~300 µs on SQLite (every step is a hop to aiosqlite's thread) and ~130 µs on PostgreSQL
even on a held connection; the reads below skip that layer:

- SQLite: a stdlib ``sqlite3`` connection used synchronously from the event loop. A point
  read by primary key takes microseconds, and in WAL mode a reader never waits for a
  writer, so blocking the loop for it is cheaper than any hand-off. ``query_only`` is on.
- PostgreSQL: an ``asyncpg`` pool; statements are prepared once per connection.

Only fixed statements from this module run here, each a single indexed read.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any, Final, Protocol

import asyncpg
from sqlalchemy.engine import URL

from tessera.errors import StorageError

__all__ = [
    "LIVE_OPAQUE",
    "REFRESH_WITH_FAMILY",
    "REVOKED",
    "USER",
    "HotReads",
    "PostgresHotReads",
    "make_hot_reads",
]

# An unexpired opaque token whose jti is not revoked, in one round trip.
LIVE_OPAQUE: Final = (
    "SELECT tenant_id, client_id, subject, audience, scope, jti, issued_at, expires_at "
    "FROM opaque_tokens o WHERE o.token_hash = ? AND o.expires_at > ? AND NOT EXISTS ("
    "SELECT 1 FROM revoked_jtis r WHERE r.tenant_id = o.tenant_id AND r.jti = o.jti "
    "AND r.expires_at > ?)"
)
REVOKED: Final = "SELECT 1 FROM revoked_jtis WHERE tenant_id = ? AND jti = ? AND expires_at > ?"
# The refresh grant's two reads: the token with its family, and the family's user.
REFRESH_WITH_FAMILY: Final = (
    "SELECT t.token_hash, t.family_id, t.tenant_id, t.client_id, t.generation, t.scope, "
    "t.issued_at, t.expires_at, t.rotated_at, t.successor_hash, "
    "f.family_id, f.tenant_id, f.client_id, f.user_id, f.session_id, f.scope, f.audience, "
    "f.auth_time, f.created_at, f.expires_at, f.revoked_at, f.revoked_reason "
    "FROM refresh_tokens t JOIN refresh_families f ON f.family_id = t.family_id "
    "WHERE t.token_hash = ?"
)
USER: Final = (
    "SELECT tenant_id, user_id, email, password_hash, name, disabled, created_at, updated_at "
    "FROM users WHERE tenant_id = ? AND user_id = ?"
)


class HotReads(Protocol):
    async def one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None: ...
    async def close(self) -> None: ...


class SqliteHotReads:
    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=1000")
        conn.execute("PRAGMA query_only=ON")
        self._conn = conn
        return conn

    async def one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        conn = self._conn or self._connect()
        try:
            row: tuple[Any, ...] | None = conn.execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise StorageError("the database is unavailable") from exc
        return row

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class PostgresHotReads:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self._statements: dict[str, str] = {}

    async def pool(self) -> asyncpg.Pool:
        """The shared pool (hot writes use it too)."""
        return self._pool or await self._get_pool()

    async def _get_pool(self) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn, min_size=1, max_size=10, timeout=10
                )
        return self._pool

    def numbered(self, sql: str) -> str:
        """``?`` placeholders as asyncpg's ``$1 … $n`` (the statements hold no literal ?)."""
        numbered = self._statements.get(sql)
        if numbered is None:
            parts = sql.split("?")
            numbered = "".join(f"{p}${i}" for i, p in enumerate(parts[:-1], 1)) + parts[-1]
            self._statements[sql] = numbered
        return numbered

    async def one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        pool = self._pool or await self._get_pool()
        try:
            row = await pool.fetchrow(self.numbered(sql), *params)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StorageError("the database is unavailable") from exc
        return tuple(row) if row is not None else None

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def make_hot_reads(url: URL) -> HotReads:
    if url.get_backend_name() == "sqlite":
        return SqliteHotReads(url.database or ":memory:")
    return PostgresHotReads(url.set(drivername="postgresql").render_as_string(hide_password=False))


def json_list(value: Any) -> list[Any]:
    """A JSON column as a list (asyncpg hands ``json`` over as text; sqlite3 always does)."""
    decoded = json.loads(value) if isinstance(value, str | bytes) else value
    return list(decoded)
