"""Revoke at a real `tessera serve` → a verifier in another process (this one) rejects.

The server publishes to the real Redis (TESSERA_REDIS_URL); the verifier follows the feed
with RedisRevocationSubscriber. Also: the server's heartbeats keep an idle feed fresh.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from required import REDIS_URL, require_redis
from served import tessera_serve
from tessera.errors import TokenRevoked
from tessera.verify import RedisRevocationSubscriber, RevocationFeed, Verifier

API = "https://api.example.test"


@pytest.fixture
def server(tmp_path):
    require_redis()
    with tessera_serve(tmp_path / "home", redis_url=REDIS_URL, heartbeat_interval="0.5") as srv:
        yield srv.issuer, srv.add_client("svc", "--audience", API)


async def _until(condition, limit: float = 5.0) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > limit:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.005)
    return time.monotonic() - start


async def test_revocation_at_the_server_reaches_a_verifier_in_another_process(server):
    issuer, secret = server
    feed = RevocationFeed(max_staleness=2.0)
    subscriber = RedisRevocationSubscriber(REDIS_URL, feed)
    async with httpx.AsyncClient() as http:
        jwks = (await http.get(f"{issuer}/jwks.json")).json()
        verifier = Verifier(
            issuer=issuer, audience=API, algorithms=["ES256"], keys=jwks, revocation=feed,
            cache_size=100,
        )  # fmt: skip
        subscriber.start()
        try:
            await _until(lambda: subscriber.connected)
            token = (
                await http.post(
                    f"{issuer}/token",
                    data={"grant_type": "client_credentials"},
                    auth=("svc", secret),
                )
            ).json()["access_token"]
            jti = verifier.verify(token).jwt_id
            # Heartbeats alone keep the idle feed fresh past max_staleness.
            seen = feed.last_seen
            await _until(lambda: feed.last_seen != seen)
            revoked = await http.post(
                f"{issuer}/revoke", data={"token": token}, auth=("svc", secret)
            )
            assert revoked.status_code == 200
            delay = await _until(lambda: jti in feed._denied, limit=2.0)
            with pytest.raises(TokenRevoked):
                verifier.verify(token)
            assert delay < 1.0
        finally:
            await subscriber.stop()
