"""What the SQLite tenant views cost an export, at the database layer (``bench.data_api``).

The same query text (``examples.data_api.queries.export_rows``: it names the tenant itself)
runs on two connections to one SQLite file: the app's store, whose connections carry the
tenant views (``tessera.authz.sqlite_scope``; unqualified ``events`` is the view, filtered
again on ``tessera_tenant()``), and a plain connection where ``events`` is the table. Rows are
counted and must match; rounds alternate the two.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import aiosqlite
from examples.data_api.dataset import DatasetSpec
from examples.data_api.filters import parse_filter
from examples.data_api.loader import load
from examples.data_api.migrate import upgrade
from examples.data_api.queries import export_rows
from examples.data_api.store import Store, open_store, session_for
from examples.data_api.store_sqlite import SqliteSession
from examples.data_api.urls import DatabaseUrl

from tessera.authz import Principal

__all__ = ["ViewCost", "measure_views"]


class ViewCost:
    def __init__(self, rows: int, views: list[float], plain: list[float]) -> None:
        self.rows = rows
        self.views = statistics.median(views)
        self.plain = statistics.median(plain)

    @property
    def cost(self) -> float:
        return 1 - self.views / self.plain


async def _through_views(store: Store, principal: Principal, batch: int) -> int:
    rows = 0
    async with session_for(store, principal) as session:
        tenant = principal.verified_tenant or ""
        async for chunk in export_rows(
            session, tenant, parse_filter(None, None, None), batch=batch
        ):
            rows += len(chunk)
    return rows


async def _plain(conn: aiosqlite.Connection, tenant: str, batch: int) -> int:
    rows = 0
    await conn.execute("BEGIN")
    try:
        session = SqliteSession(conn)
        async for chunk in export_rows(
            session, tenant, parse_filter(None, None, None), batch=batch
        ):
            rows += len(chunk)
    finally:
        await conn.rollback()
    return rows


async def measure_views(rows: int, tenant: str, repeat: int, batch: int) -> ViewCost:
    with tempfile.TemporaryDirectory(prefix="tessera-bench-sqlite-") as tmp:
        url = DatabaseUrl.parse(f"sqlite:///{Path(tmp) / 'bench.db'}")
        await upgrade(url)
        await load(url, DatasetSpec(rows=rows), [])
        hint = Principal(subject="bench", client_id="bench", tenant_id=tenant, scopes=frozenset())
        principal = hint.with_membership(frozenset({"admin"}))
        store = await open_store(url, pool_size=1)
        plain = await aiosqlite.connect(url.sqlite_path, isolation_level=None)
        try:
            expected = await _plain(plain, tenant, batch)
            views: list[float] = []
            direct: list[float] = []
            for _ in range(repeat):
                start = time.perf_counter()
                got = await _through_views(store, principal, batch)
                views.append(got / (time.perf_counter() - start))
                start = time.perf_counter()
                same = await _plain(plain, tenant, batch)
                direct.append(same / (time.perf_counter() - start))
                if got != expected or same != expected:
                    raise SystemExit(f"sanity: {got} and {same} rows, expected {expected}")
            return ViewCost(expected, views, direct)
        finally:
            await plain.close()
            await store.close()
