"""Creating the async engine: SQLite (embedded default) or PostgreSQL (scale-out).

SQLite is set up for one machine with several processes: WAL (readers never block the writer),
foreign keys on, a busy timeout instead of an immediate "database is locked", and SQLAlchemy
issuing ``BEGIN`` itself, so that reads are repeatable and DDL is transactional (the sqlite3
driver's legacy mode does neither). Writes begin ``IMMEDIATE``: the write lock is taken at the
start, never upgraded mid-transaction, where WAL would fail at once instead of waiting.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tessera.errors import ConfigurationError

__all__ = ["BUSY_TIMEOUT_MS", "WRITE", "make_engine", "parse_url"]

BUSY_TIMEOUT_MS = 10_000
# Execution option marking an engine whose transactions write (``BEGIN IMMEDIATE`` on SQLite).
WRITE = "tessera_write"

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def parse_url(url: str | URL) -> URL:
    """The database URL with its async driver; refuses anything but SQLite and PostgreSQL."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        # The message names no part of the URL: it may hold a password.
        raise ConfigurationError("database URL is malformed") from exc
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ConfigurationError(
            "database URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://",
            drivername=parsed.drivername,
        )
    return parsed.set(drivername=driver)


def make_engine(url: str | URL, *, pool_size: int = 10) -> AsyncEngine:
    """An :class:`AsyncEngine` for ``url``; the caller disposes it."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(parsed)
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,  # below common proxy/firewall idle cut-offs
        connect_args={"timeout": 10},
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand BEGIN over to SQLAlchemy (see _on_begin); the driver would skip it for reads/DDL.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable across crashes in WAL mode
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
