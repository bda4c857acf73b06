"""A tenant-scoped database session: the only way the API's code reaches the data.

A :class:`Session` exists only inside a scoped transaction (PostgreSQL: ``SET LOCAL`` of the
caller's verified tenant under row-level security; SQLite: tenant views). Whatever SQL runs
through it, a query that forgets ``WHERE tenant_id = …`` still sees the caller's rows only.
The domain queries (:mod:`examples.data_api.queries`) name the tenant anyway: the index
needs it, and two fences are better than one.

:class:`Dialect` is the little that differs between the backends' SQL.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from examples.data_api.dataset import as_text
from examples.data_api.filters import from_micros, to_micros

__all__ = ["POSTGRES", "SQLITE", "Dialect", "Row", "Session"]

Row = Sequence[object]


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    placeholder: Callable[[int], str]
    """The SQL of the n-th (1-based) bind parameter."""
    day: str
    """SQL for the UTC day (``YYYY-MM-DD``) of ``occurred_at``."""
    time_param: Callable[[int], object]
    """A bind value for a time given in µs since the epoch."""
    time_micros: Callable[[object], int]
    """µs since the epoch of an ``occurred_at`` value read back."""
    time_text: Callable[[object], str]
    """An ``occurred_at`` value read back, as ISO 8601 text ending in Z."""


def _pg_micros(value: object) -> int:
    if not isinstance(value, datetime):
        raise TypeError("occurred_at is not a timestamp")
    return to_micros(value.astimezone(UTC))


def _sqlite_micros(value: object) -> int:
    if not isinstance(value, str):
        raise TypeError("occurred_at is not text")
    return to_micros(datetime.fromisoformat(value))


def _pg_text(value: object) -> str:
    if not isinstance(value, datetime):
        raise TypeError("occurred_at is not a timestamp")
    return value.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def _sqlite_text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("occurred_at is not text")
    return value


POSTGRES = Dialect(
    name="postgresql",
    placeholder=lambda n: f"${n}",
    day="to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    time_param=from_micros,
    time_micros=_pg_micros,
    time_text=_pg_text,
)
SQLITE = Dialect(
    name="sqlite",
    placeholder=lambda _n: "?",
    # Fixed-width ISO text: the day is its first ten characters.
    day="substr(occurred_at, 1, 10)",
    time_param=as_text,
    time_micros=_sqlite_micros,
    time_text=_sqlite_text,
)


class Session(Protocol):
    """SQL inside one tenant-scoped transaction."""

    @property
    def dialect(self) -> Dialect: ...

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        """All rows of a query (for small results)."""
        ...

    async def execute(self, sql: str, *args: object) -> int:
        """Run a statement; the number of rows it changed."""
        ...

    def stream(self, sql: str, *args: object, batch: int) -> AsyncGenerator[list[Row], None]:
        """Rows in lists of at most ``batch``, from a server-side cursor: memory stays flat."""
        ...
