"""Database URLs: one value object for both backends, with the password kept out of reprs.

Accepted forms::

    postgresql://user[:password]@host[:port]/database[?sslmode=…]   (also postgres://,
                                                                     postgresql+asyncpg://)
    sqlite:///relative/path.db   sqlite:////absolute/path.db        (also sqlite+aiosqlite://)

SQLite must be a file: the API, the generator and other processes share it, and an in-memory
database would be a different database per connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["Backend", "DatabaseUrl", "InvalidDatabaseUrl"]

Backend = Literal["postgresql", "sqlite"]

_POSTGRES_DRIVERS = frozenset({"postgresql", "postgres", "postgresql+asyncpg"})
_SQLITE_DRIVERS = frozenset({"sqlite", "sqlite+aiosqlite"})


class InvalidDatabaseUrl(ValueError):
    """The URL is not a PostgreSQL or SQLite-file URL (the message never repeats it)."""


@dataclass(frozen=True, slots=True, repr=False)
class DatabaseUrl:
    backend: Backend
    _url: URL

    @classmethod
    def parse(cls, raw: str) -> DatabaseUrl:
        try:
            url = make_url(raw.strip())
        except ArgumentError:
            raise InvalidDatabaseUrl(
                "not a database URL (postgresql://… or sqlite:///path)"
            ) from None
        driver = url.drivername
        if driver in _POSTGRES_DRIVERS:
            if not url.database:
                raise InvalidDatabaseUrl("a PostgreSQL URL must name the database")
            return cls("postgresql", url.set(drivername="postgresql"))
        if driver in _SQLITE_DRIVERS:
            if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
                raise InvalidDatabaseUrl("a SQLite URL must name a file: sqlite:///path/to/db")
            return cls("sqlite", url.set(drivername="sqlite"))
        raise InvalidDatabaseUrl("unsupported database: use postgresql://… or sqlite:///path")

    @property
    def sqlalchemy_url(self) -> str:
        """For SQLAlchemy's async engine (Alembic migrations); includes the password."""
        driver = "postgresql+asyncpg" if self.backend == "postgresql" else "sqlite+aiosqlite"
        return self._url.set(drivername=driver).render_as_string(hide_password=False)

    @property
    def asyncpg_dsn(self) -> str:
        """A libpq-style DSN for asyncpg; includes the password."""
        if self.backend != "postgresql":
            raise InvalidDatabaseUrl("not a PostgreSQL URL")
        return self._url.render_as_string(hide_password=False)

    @property
    def sqlite_path(self) -> Path:
        if self.backend != "sqlite" or self._url.database is None:
            raise InvalidDatabaseUrl("not a SQLite URL")
        return Path(self._url.database)

    @property
    def username(self) -> str | None:
        return self._url.username

    def __str__(self) -> str:
        return self._url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"DatabaseUrl({str(self)!r})"
