"""Writing the generated dataset, tenants and memberships (as the database administrator).

PostgreSQL: one transaction, events through ``COPY`` (asyncpg ``copy_records_to_table`` fed
by an async generator, so generating rows and the server's work overlap). SQLite:
``executemany`` in transactions of a few hundred thousand rows.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass

import asyncpg

from examples.data_api.dataset import DatasetSpec, as_datetime, as_text, batches
from examples.data_api.migrate import TENANT_TABLES
from examples.data_api.urls import DatabaseUrl

__all__ = ["ROLES", "InvalidMember", "Member", "load"]

ROLES = ("viewer", "analyst", "admin")
EVENT_COLUMNS = (
    "tenant_id", "occurred_at", "kind", "country", "user_ref", "amount_cents", "duration_ms",
)  # fmt: skip
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SQLITE_COMMIT_EVERY = 250_000


class InvalidMember(ValueError):
    """A ``--member`` value is not ``TENANT:SUBJECT:ROLE[,ROLE]`` with known roles."""


@dataclass(frozen=True, slots=True)
class Member:
    tenant_id: str
    subject: str
    roles: tuple[str, ...]

    @classmethod
    def parse(cls, value: str) -> Member:
        """``TENANT:SUBJECT:ROLE[,ROLE]``; the subject may contain colons (``client:reports``)."""
        tenant, _, rest = value.partition(":")
        subject, _, roles = rest.rpartition(":")
        names = tuple(sorted({r.strip() for r in roles.split(",") if r.strip()}))
        if not _TENANT.fullmatch(tenant) or not subject or len(subject) > 255 or not names:
            raise InvalidMember("expected TENANT:SUBJECT:ROLE[,ROLE]")
        unknown = [r for r in names if r not in ROLES]
        if unknown:
            raise InvalidMember(f"unknown role {unknown[0]!r} (roles: {', '.join(ROLES)})")
        return cls(tenant, subject, names)


def check_tenant(tenant_id: str) -> str:
    if not _TENANT.fullmatch(tenant_id):
        raise InvalidMember("a tenant id is 1-64 letters, digits, '.', '_' or '-'")
    return tenant_id


async def load(
    database: DatabaseUrl,
    spec: DatasetSpec,
    members: Sequence[Member],
    *,
    replace: bool = False,
    on_rows: Callable[[int], None] = lambda _n: None,
) -> None:
    """Write tenants (those of ``spec`` and of ``members``), memberships and the events."""
    tenants = list(dict.fromkeys([*spec.tenants, *(m.tenant_id for m in members)]))
    for tenant in tenants:
        check_tenant(tenant)
    if database.backend == "postgresql":
        await _load_postgres(database, spec, tenants, members, replace=replace, on_rows=on_rows)
    else:
        _load_sqlite(database, spec, tenants, members, replace=replace, on_rows=on_rows)


async def _records(
    spec: DatasetSpec, on_rows: Callable[[int], None]
) -> AsyncIterator[tuple[object, ...]]:
    for batch in batches(spec):
        for tenant, at, kind, country, user, amount, duration in batch:
            yield (tenant, as_datetime(at), kind, country, user, amount, duration)
        on_rows(len(batch))


async def _load_postgres(
    database: DatabaseUrl,
    spec: DatasetSpec,
    tenants: Iterable[str],
    members: Sequence[Member],
    *,
    replace: bool,
    on_rows: Callable[[int], None],
) -> None:
    conn = await asyncpg.connect(database.asyncpg_dsn, timeout=10)
    try:
        bypasses = await conn.fetchval(
            "SELECT rolsuper OR rolbypassrls FROM pg_catalog.pg_roles WHERE rolname = current_user"
        )
        async with conn.transaction():
            if not bypasses:
                # FORCE binds the owner too, and COPY FROM refuses any table where RLS
                # applies. The owner lifts FORCE inside this transaction only: nobody ever
                # sees it lifted (ALTER TABLE holds an exclusive lock until COMMIT).
                for table in TENANT_TABLES:
                    await conn.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            if replace:
                await conn.execute("TRUNCATE events RESTART IDENTITY")
            await conn.executemany(
                "INSERT INTO tenants (id, name) VALUES ($1, $1) ON CONFLICT (id) DO NOTHING",
                [(t,) for t in tenants],
            )
            await conn.executemany(
                "INSERT INTO memberships (tenant_id, subject, roles) VALUES ($1, $2, $3) "
                "ON CONFLICT (tenant_id, subject) DO UPDATE SET roles = excluded.roles",
                [(m.tenant_id, m.subject, " ".join(m.roles)) for m in members],
            )
            if spec.rows:
                await conn.copy_records_to_table(
                    "events", records=_records(spec, on_rows), columns=list(EVENT_COLUMNS)
                )
            if not bypasses:
                for table in TENANT_TABLES:
                    await conn.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        await conn.execute("ANALYZE events")
    finally:
        await conn.close()


def _load_sqlite(
    database: DatabaseUrl,
    spec: DatasetSpec,
    tenants: Iterable[str],
    members: Sequence[Member],
    *,
    replace: bool,
    on_rows: Callable[[int], None],
) -> None:
    conn = sqlite3.connect(database.sqlite_path, isolation_level=None, timeout=30)
    try:
        # WAL lets the API read while this writes; NORMAL is durable enough for a bulk load.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        if replace:
            conn.execute("DELETE FROM events")
        conn.executemany(
            "INSERT INTO tenants (id, name) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
            [(t, t) for t in tenants],
        )
        conn.executemany(
            "INSERT INTO memberships (tenant_id, subject, roles) VALUES (?, ?, ?) "
            "ON CONFLICT (tenant_id, subject) DO UPDATE SET roles = excluded.roles",
            [(m.tenant_id, m.subject, " ".join(m.roles)) for m in members],
        )
        columns = ", ".join(EVENT_COLUMNS)
        insert = f"INSERT INTO events ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?)"  # noqa: S608 - constant names
        pending = 0
        for batch in batches(spec):
            conn.executemany(
                insert,
                [(t, as_text(at), k, c, u, a, d) for t, at, k, c, u, a, d in batch],
            )
            on_rows(len(batch))
            pending += len(batch)
            if pending >= _SQLITE_COMMIT_EVERY:
                conn.execute("COMMIT")
                conn.execute("BEGIN IMMEDIATE")
                pending = 0
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
