"""Cache misses under load share one query (a stampede of identical queries stalls all)."""

from __future__ import annotations

import asyncio

from tessera.server.directory import Directory


async def test_concurrent_client_misses_share_one_query(server):
    await server.add_client("svc")
    calls = 0
    real = server.ctx.store.get_client

    async def counting(tenant_id, client_id):
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)  # let the other callers arrive while the query is in flight
        return await real(tenant_id, client_id)

    server.ctx.store.get_client = counting
    directory = Directory(server.ctx.store, ttl=5.0, clock=server.clock)
    results = await asyncio.gather(*(directory.client("default", "svc") for _ in range(50)))
    assert calls == 1
    assert {r.client_id for r in results} == {"svc"}
    server.clock.advance(6)  # expired: the next wave loads once more
    await asyncio.gather(*(directory.client("default", "svc") for _ in range(50)))
    assert calls == 2


async def test_concurrent_key_snapshot_reloads_share_one_query(server):
    calls = 0
    real = server.ctx.store.list_keys

    async def counting(tenant_id):
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        return await real(tenant_id)

    server.ctx.store.list_keys = counting
    server.clock.advance(server.ctx.settings.key_refresh_interval + 1)
    snapshots = await asyncio.gather(
        *(server.ctx.keys.keys_for("default", server.clock.now) for _ in range(50))
    )
    assert calls == 1
    assert len({id(s) for s in snapshots}) == 1
