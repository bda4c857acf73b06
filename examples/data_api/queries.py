"""The API's queries, on a tenant-scoped :class:`~examples.data_api.session.Session`.

Each names the tenant explicitly (the indexes lead with it) and relies on the session's
confinement as the second fence. Newest first for listings (keyset on ``(occurred_at, id)``,
no OFFSET: every page costs the same); oldest first for exports, which walk the
``(tenant_id, occurred_at, id)`` index in order, so the database never sorts.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal, get_args

from examples.data_api.filters import Cursor, EventFilter, to_micros
from examples.data_api.session import Row, Session

__all__ = [
    "EVENT_FIELDS",
    "GroupBy",
    "Metric",
    "aggregate",
    "export_rows",
    "list_events",
    "remove_member",
]

EVENT_FIELDS: Final = (
    "id", "tenant_id", "occurred_at", "kind", "country", "user_ref", "amount_cents",
    "duration_ms",
)  # fmt: skip
_SELECT: Final = f"SELECT {', '.join(EVENT_FIELDS)} FROM events"  # noqa: S608 - constant names
GroupBy = Literal["kind", "country", "day"]
Metric = Literal["amount_cents", "duration_ms"]
_GROUP_KEYS: Final = frozenset(get_args(GroupBy))
_METRICS: Final = frozenset(get_args(Metric))


class _Sql:
    """Collects bind values; hands out the dialect's placeholder for each."""

    def __init__(self, session: Session) -> None:
        self.dialect = session.dialect
        self.args: list[object] = []

    def bind(self, value: object) -> str:
        self.args.append(value)
        return self.dialect.placeholder(len(self.args))

    def where(self, tenant_id: str, window: EventFilter) -> str:
        clauses = [f"tenant_id = {self.bind(tenant_id)}"]
        if window.kind is not None:
            clauses.append(f"kind = {self.bind(window.kind)}")
        if window.since is not None:
            since = self.dialect.time_param(to_micros(window.since))
            clauses.append(f"occurred_at >= {self.bind(since)}")
        if window.until is not None:
            until = self.dialect.time_param(to_micros(window.until))
            clauses.append(f"occurred_at < {self.bind(until)}")
        return " AND ".join(clauses)


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Row]
    next_cursor: Cursor | None


async def list_events(
    session: Session, tenant_id: str, window: EventFilter, after: Cursor | None, limit: int
) -> Page:
    sql = _Sql(session)
    where = sql.where(tenant_id, window)
    if after is not None:
        at = sql.bind(session.dialect.time_param(after.occurred_at_us))
        where += f" AND (occurred_at, id) < ({at}, {sql.bind(after.id)})"
    # One row more than asked: whether a next page exists, without a COUNT.
    query = f"{_SELECT} WHERE {where} ORDER BY occurred_at DESC, id DESC LIMIT {limit + 1}"
    rows = await session.fetch(query, *sql.args)
    if len(rows) <= limit:
        return Page(rows, None)
    last = rows[limit - 1]
    return Page(rows[:limit], Cursor(session.dialect.time_micros(last[2]), _int(last[0])))


def _int(value: object) -> int:
    if isinstance(value, int | Decimal):
        return int(value)
    raise TypeError("not an integer column")


def _number(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float | Decimal):
        return round(float(value), 3)
    raise TypeError("not a numeric column")


async def aggregate(
    session: Session, tenant_id: str, window: EventFilter, group_by: GroupBy, metric: Metric
) -> list[dict[str, object]]:
    sql = _Sql(session)
    where = sql.where(tenant_id, window)
    # Only names from these fixed sets reach the SQL, whatever the caller passes.
    if group_by not in _GROUP_KEYS or metric not in _METRICS:
        raise ValueError("unknown group_by or metric")
    key = session.dialect.day if group_by == "day" else group_by
    query = (
        f"SELECT {key} AS key, count(*), sum({metric}), avg({metric}) FROM events "  # noqa: S608 - fixed names
        f"WHERE {where} GROUP BY 1 ORDER BY 1"
    )
    return [
        {
            group_by: row[0],
            "count": _int(row[1]),
            "sum": None if row[2] is None else _int(row[2]),
            "avg": _number(row[3]),
        }
        for row in await session.fetch(query, *sql.args)
    ]


def export_rows(
    session: Session, tenant_id: str, window: EventFilter, *, batch: int
) -> AsyncGenerator[list[Row], None]:
    sql = _Sql(session)
    where = sql.where(tenant_id, window)
    return session.stream(
        f"{_SELECT} WHERE {where} ORDER BY occurred_at, id", *sql.args, batch=batch
    )


async def remove_member(session: Session, tenant_id: str, subject: str) -> bool:
    """Delete one membership; False if there was none.

    Asked first, not read from the DELETE's row count: SQLite's tenant views write through
    INSTEAD OF triggers, which report no rows.
    """
    if await member_roles(session, tenant_id, subject) is None:
        return False
    sql = _Sql(session)
    query = (
        f"DELETE FROM memberships WHERE tenant_id = {sql.bind(tenant_id)} "  # noqa: S608 - placeholders
        f"AND subject = {sql.bind(subject)}"
    )
    await session.execute(query, *sql.args)
    return True


async def member_roles(session: Session, tenant_id: str, subject: str) -> frozenset[str] | None:
    sql = _Sql(session)
    query = (
        f"SELECT roles FROM memberships WHERE tenant_id = {sql.bind(tenant_id)} "  # noqa: S608 - placeholders
        f"AND subject = {sql.bind(subject)}"
    )
    rows = await session.fetch(query, *sql.args)
    if not rows:
        return None
    roles = rows[0][0]
    return frozenset(roles.split()) if isinstance(roles, str) else frozenset()
