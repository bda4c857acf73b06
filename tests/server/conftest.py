"""Server fixtures: the app on each backend (SQLite and PostgreSQL) with a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from harness import PUBLIC_URL, FakeClock, Harness, make_settings

from tessera.server.app import build_app, make_context
from tessera.storage.records import Tenant


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def server(store, tmp_path, clock, secret_registry) -> AsyncIterator[Harness]:
    """The app on each backend with tenant ``default`` and its first signing key."""
    settings = make_settings(tmp_path)
    ctx = make_context(settings, store, clock=clock, client_cache_ttl=0.0)
    await store.add_tenant(Tenant("default", "Default", clock.now))
    await ctx.keys.ensure("default", clock.now)
    app = build_app(ctx, background=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as http:
        yield Harness(ctx=ctx, http=http, clock=clock, remember=secret_registry)
