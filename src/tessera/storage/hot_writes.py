"""The refresh rotation on the request path, straight to the database driver.

The refresh grant's compare-and-set (see :mod:`tessera.storage.sql_refresh` for why it is
race-free) took ~3 ms of CPU through SQLAlchemy's async layer on SQLite, almost all of it
hops to aiosqlite's thread, and concurrent requests of one process queued on SQLite's busy
handler (which sleeps) rather than on each other. The same transaction here:

- SQLite: one stdlib ``sqlite3`` connection used synchronously from the event loop (a WAL
  commit with ``synchronous=NORMAL`` does not fsync). Every write transaction of the process
  — this one and the SQLAlchemy ones — first takes one FIFO ``asyncio.Lock`` (``gate``),
  so writers of one process queue in order instead of meeting SQLite's busy handler, whose
  growing sleeps (up to 100 ms each) once made one slow writer stall every request behind
  it. The busy timeout here is 0: if another PROCESS holds the write lock, this returns
  None at once and the caller takes the async path, which waits in a worker thread
  instead of blocking the loop.
- PostgreSQL: a connection of the asyncpg pool, in one transaction, locking the family row
  exactly as the SQLAlchemy path does.

Same statements, same semantics as ``SqlRefresh.rotate_refresh``; the storage contract suite
runs against this path.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Final, Protocol

import asyncpg

from tessera.errors import ConflictError, StorageError
from tessera.storage.hot_reads import HotReads, PostgresHotReads
from tessera.storage.user_records import FamilyToken, RefreshToken

__all__ = ["HotWrites", "make_hot_writes"]

_FAMILY: Final = (
    "SELECT f.family_id, f.revoked_at FROM refresh_tokens t "
    "JOIN refresh_families f ON f.family_id = t.family_id WHERE t.token_hash = ?"
)
_ROTATE: Final = (
    "UPDATE refresh_tokens SET rotated_at = ?, successor_hash = ? "
    "WHERE token_hash = ? AND rotated_at IS NULL"
)
_INSERT_TOKEN: Final = (
    "INSERT INTO refresh_tokens (token_hash, family_id, tenant_id, client_id, generation, "
    "scope, issued_at, expires_at, rotated_at, successor_hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)"
)
_INSERT_ACCESS: Final = (
    "INSERT INTO family_tokens (family_id, tenant_id, jti, expires_at) VALUES (?, ?, ?, ?)"
)


def _token_row(t: RefreshToken) -> tuple[object, ...]:
    return (
        t.token_hash, t.family_id, t.tenant_id, t.client_id, t.generation,
        t.scope, t.issued_at, t.expires_at,
    )  # fmt: skip


def _access_row(a: FamilyToken) -> tuple[object, ...]:
    return (a.family_id, a.tenant_id, a.jti, a.expires_at)


class HotWrites(Protocol):
    # SQLite: the process-wide writer queue (see the module docstring); None elsewhere.
    gate: asyncio.Lock | None

    async def rotate_refresh(
        self, parent_hash: bytes, successor: RefreshToken, access: FamilyToken, now: float
    ) -> bool | None:
        """True/False as ``RefreshStore.rotate_refresh``; None: not done here, use the
        general path (SQLite's write lock is held by another process)."""
        ...

    async def close(self) -> None: ...


class SqliteHotWrites:
    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self.gate: asyncio.Lock | None = asyncio.Lock()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=0")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        self._conn = conn
        return conn

    async def rotate_refresh(
        self, parent_hash: bytes, successor: RefreshToken, access: FamilyToken, now: float
    ) -> bool | None:
        assert self.gate is not None  # noqa: S101 - always set for SQLite
        async with self.gate:
            return self._rotate(parent_hash, successor, access, now)

    def _rotate(
        self, parent_hash: bytes, successor: RefreshToken, access: FamilyToken, now: float
    ) -> bool | None:
        conn = self._conn or self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return None  # busy: another process is writing
        try:
            family = conn.execute(_FAMILY, (parent_hash,)).fetchone()
            if family is None or family[1] is not None:
                conn.execute("ROLLBACK")
                return False
            if family[0] != successor.family_id or access.family_id != successor.family_id:
                conn.execute("ROLLBACK")
                raise ValueError("the successor must belong to the parent's family")
            if conn.execute(_ROTATE, (now, successor.token_hash, parent_hash)).rowcount != 1:
                conn.execute("ROLLBACK")
                return False
            conn.execute(_INSERT_TOKEN, _token_row(successor))
            conn.execute(_INSERT_ACCESS, _access_row(access))
            conn.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            conn.execute("ROLLBACK")
            raise ConflictError("successor or access token already exists") from exc
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StorageError("the database is unavailable") from exc
        return True

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class PostgresHotWrites:
    def __init__(self, reads: PostgresHotReads) -> None:
        self.gate: asyncio.Lock | None = None  # row locks order PostgreSQL's writers
        self._reads = reads
        self._family = reads.numbered(_FAMILY + " FOR NO KEY UPDATE OF f")
        self._rotate = reads.numbered(_ROTATE)
        self._insert_token = reads.numbered(_INSERT_TOKEN)
        self._insert_access = reads.numbered(_INSERT_ACCESS)

    async def rotate_refresh(
        self, parent_hash: bytes, successor: RefreshToken, access: FamilyToken, now: float
    ) -> bool | None:
        if access.family_id != successor.family_id:
            raise ValueError("the access token must belong to the successor's family")
        pool = await self._reads.pool()
        try:
            async with pool.acquire() as conn, conn.transaction():
                family = await conn.fetchrow(self._family, parent_hash)
                if family is None or family[1] is not None:
                    return False
                if family[0] != successor.family_id:
                    raise ValueError("the successor must belong to the parent's family")
                status = await conn.execute(self._rotate, now, successor.token_hash, parent_hash)
                if status != "UPDATE 1":
                    return False
                await conn.execute(self._insert_token, *_token_row(successor))
                await conn.execute(self._insert_access, *_access_row(access))
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise ConflictError("successor or access token already exists") from exc
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StorageError("the database is unavailable") from exc
        return True

    async def close(self) -> None:
        """The pool belongs to the hot reads, which close it."""


def make_hot_writes(path_or_reads: str | HotReads) -> HotWrites:
    if isinstance(path_or_reads, PostgresHotReads):
        return PostgresHotWrites(path_or_reads)
    assert isinstance(path_or_reads, str)  # noqa: S101 - SQLite: the database file's path
    return SqliteHotWrites(path_or_reads)
