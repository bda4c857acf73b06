"""The BFF session store on SQLite (one machine): stdlib sqlite3, WAL, file mode 0600."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import structlog

from tessera.bff.session_sealing import TokenSealer, open_pending, open_session
from tessera.bff.sessions import BffSession, PendingLogin
from tessera.errors import StorageError

__all__ = ["SqliteSessionStore"]

_log = structlog.get_logger("tessera.bff")

_SCHEMA = (
    (
        "CREATE TABLE IF NOT EXISTS bff_sessions(session_hash BLOB PRIMARY KEY,"
        " subject TEXT NOT NULL, sealed BLOB NOT NULL, created_at REAL NOT NULL,"
        " last_seen REAL NOT NULL, expires_at REAL NOT NULL)"
    ),
    # nonce and code_verifier are secrets: one sealed blob (login_hash as AAD) holds both.
    (
        "CREATE TABLE IF NOT EXISTS bff_pending(login_hash BLOB PRIMARY KEY, state TEXT NOT NULL,"
        " sealed BLOB NOT NULL, return_to TEXT NOT NULL, expires_at REAL NOT NULL)"
    ),
    "CREATE INDEX IF NOT EXISTS bff_sessions_expires ON bff_sessions(expires_at)",
    "CREATE INDEX IF NOT EXISTS bff_pending_expires ON bff_pending(expires_at)",
)
_HAS_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)
_BUSY_TIMEOUT_MS = 5000


def _sqlite_failed(exc: sqlite3.Error) -> StorageError:
    _log.error("bff session store: SQLite failed", error=type(exc).__name__)
    return StorageError("the session store failed")


class SqliteSessionStore:
    """Sessions in one SQLite file (WAL), used synchronously: every write is one tiny row.

    The file is created with mode 0600 (its WAL and shared-memory files inherit it).
    """

    __slots__ = ("_conn", "_path", "_sealer", "_use_returning")

    def __init__(self, path: str | Path, sealer: TokenSealer) -> None:
        self._path = Path(path)
        self._sealer = sealer
        self._use_returning = _HAS_RETURNING
        try:
            self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(self._path, os.O_CREAT | os.O_RDWR, 0o600))
        except OSError as exc:
            raise StorageError("cannot create the session store file", path=str(path)) from exc
        try:
            # isolation_level=None: autocommit; transactions are explicit where needed.
            self._conn = sqlite3.connect(
                self._path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None
            )
            self._conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            for statement in _SCHEMA:
                self._conn.execute(statement)
        except sqlite3.Error as exc:
            raise _sqlite_failed(exc) from None

    def __repr__(self) -> str:
        return f"SqliteSessionStore(path={str(self._path)!r})"

    async def put_session(self, session: BffSession) -> None:
        sealed = self._sealer.seal(session.tokens, session.session_hash)
        try:
            self._conn.execute(
                "INSERT OR REPLACE INTO bff_sessions"
                "(session_hash, subject, sealed, created_at, last_seen, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    session.session_hash,
                    session.subject,
                    sealed,
                    session.created_at,
                    session.last_seen,
                    session.expires_at,
                ),
            )
        except sqlite3.Error as exc:
            raise _sqlite_failed(exc) from None

    async def touch_session(self, session_hash: bytes, last_seen: float) -> None:
        try:
            self._conn.execute(
                "UPDATE bff_sessions SET last_seen = ? WHERE session_hash = ?",
                (last_seen, session_hash),
            )
        except sqlite3.Error as exc:
            raise _sqlite_failed(exc) from None

    async def get_session(self, session_hash: bytes, *, now: float) -> BffSession | None:
        try:
            row = self._conn.execute(
                "SELECT subject, sealed, created_at, last_seen, expires_at FROM bff_sessions"
                " WHERE session_hash = ? AND expires_at > ?",
                (session_hash, now),
            ).fetchone()
        except sqlite3.Error as exc:
            raise _sqlite_failed(exc) from None
        if row is None:
            return None
        subject, sealed, created_at, last_seen, expires_at = row
        return open_session(
            self._sealer, session_hash, subject, sealed, (created_at, last_seen, expires_at)
        )

    async def delete_session(self, session_hash: bytes) -> bool:
        try:
            cur = self._conn.execute(
                "DELETE FROM bff_sessions WHERE session_hash = ?", (session_hash,)
            )
        except sqlite3.Error as exc:
            raise _sqlite_failed(exc) from None
        return cur.rowcount > 0

    async def put_pending(self, pending: PendingLogin) -> None:
        sealed = self._sealer.seal_login_secrets(
            pending.nonce, pending.code_verifier, pending.login_hash
        )
        try:
            self._conn.execute(
                "INSERT OR REPLACE INTO bff_pending"
                "(login_hash, state, sealed, return_to, expires_at) VALUES (?, ?, ?, ?, ?)",
                (pending.login_hash, pending.state, sealed, pending.return_to, pending.expires_at),
            )
        except sqlite3.Error as exc:
            raise _sqlite_failed(exc) from None

    def _take_row(self, login_hash: bytes) -> tuple[Any, ...] | None:
        if self._use_returning:
            rows = self._conn.execute(
                "DELETE FROM bff_pending WHERE login_hash = ?"
                " RETURNING state, sealed, return_to, expires_at",
                (login_hash,),
            ).fetchall()
            return rows[0] if rows else None
        # Before SQLite 3.35: the write lock, taken first, makes SELECT + DELETE one step.
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            row = self._conn.execute(
                "SELECT state, sealed, return_to, expires_at FROM bff_pending WHERE login_hash = ?",
                (login_hash,),
            ).fetchone()
            if row is not None:
                self._conn.execute("DELETE FROM bff_pending WHERE login_hash = ?", (login_hash,))
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        return tuple(row) if row is not None else None

    async def take_pending(self, login_hash: bytes, *, now: float) -> PendingLogin | None:
        try:
            row = self._take_row(login_hash)
        except sqlite3.Error as exc:
            raise _sqlite_failed(exc) from None
        if row is None:
            return None
        state, sealed, return_to, expires_at = row
        return open_pending(self._sealer, login_hash, (state, sealed, return_to, expires_at), now)

    async def purge(self, now: float) -> int:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                n = self._conn.execute(
                    "DELETE FROM bff_sessions WHERE expires_at <= ?", (now,)
                ).rowcount
                n += self._conn.execute(
                    "DELETE FROM bff_pending WHERE expires_at <= ?", (now,)
                ).rowcount
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _sqlite_failed(exc) from None
        return n

    async def close(self) -> None:
        self._conn.close()


# ------------------------------------------------------------------------------- Redis

# Delete a session hash only if it is still expired at ``now`` (a concurrent put may renew it).
