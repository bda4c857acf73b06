"""A revocation event makes the data API stop vouching for the tenant's cached memberships.

Revocations often travel with a membership change (an administrator removes a user and
revokes their tokens). On SQLite there is no NOTIFY: a membership deleted by another process
would otherwise keep working until the cache's TTL runs out. The app subscribes its
membership cache to the revocation feed (``--redis-url``), so the revocation of ANY token of
that tenant drops the tenant's cached answers at once. Real Redis; a skip locally without
it, a failure under CI.
"""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest
from data_api_harness import LocalIssuer, backend, generate, running, settings

from required import REDIS_URL, require_redis
from tessera.events.bus import RevocationEvent
from tessera.events.redis_bus import RedisEventBus

TENANT = "t-r"


async def _status(http, headers) -> int:
    return (await http.get("/events", params={"limit": 1}, headers=headers)).status_code


@pytest.fixture
def target(tmp_path):
    require_redis()
    with backend("sqlite", tmp_path) as made:
        generate(made, 200, [f"{TENANT}:mover:analyst", "t-other:stayer:analyst"], [TENANT])
        yield made


async def test_a_revocation_in_the_tenant_drops_its_cached_memberships(target, secret_registry):
    issuer = LocalIssuer(remember=secret_registry)
    mover = issuer.bearer("mover", TENANT)
    stayer = issuer.bearer("stayer", "t-other")
    # A TTL far beyond the test: only the event can end the mover's access in time.
    app_settings = settings(target, issuer, membership_ttl=120.0, redis_url=REDIS_URL)
    bus = RedisEventBus(REDIS_URL)
    try:
        async with running(app_settings) as (_app, http):
            assert await _status(http, mover) == 200  # cached: a member
            assert await _status(http, stayer) == 200
            await asyncio.to_thread(
                target.fetch,
                "DELETE FROM memberships WHERE tenant_id = $1 AND subject = 'mover'",
                TENANT,
            )
            # Another process removed it; SQLite cannot tell this one: the cache vouches.
            assert await _status(http, mover) == 200
            now = time.time()
            await bus.publish(
                RevocationEvent(
                    kind="jti",
                    tenant_id=TENANT,
                    value=secrets.token_hex(16),  # some other token of that tenant
                    expires_at=now + 300,
                    issued_at=now,
                )
            )
            deadline = time.monotonic() + 2.0
            while (status := await _status(http, mover)) == 200:
                assert time.monotonic() < deadline, "the revocation never reached the cache"
                await asyncio.sleep(0.005)
            assert status == 403
            # Other tenants' cached memberships are untouched (and still right).
            assert await _status(http, stayer) == 200
    finally:
        await bus.close()
