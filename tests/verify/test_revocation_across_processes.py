"""Revoke at a real `tessera serve` → a verifier in another process (this one) rejects.

The server publishes to the real Redis (TESSERA_REDIS_URL); the verifier follows the feed
with RedisRevocationSubscriber. Also: the server's heartbeats keep an idle feed fresh.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis

from shared_data import IN_CI
from tessera.errors import TokenRevoked
from tessera.verify import RedisRevocationSubscriber, RevocationFeed, Verifier

REDIS_URL = os.environ.get("TESSERA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TESSERA = Path(sys.executable).parent / "tessera"
API = "https://api.example.test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path):
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except (OSError, redis.RedisError) as exc:
        if IN_CI:
            pytest.fail(f"Redis unavailable at {REDIS_URL}: {exc!r}", pytrace=False)
        pytest.skip(f"Redis unavailable at {REDIS_URL}")
    finally:
        client.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env |= {
        "TESSERA_HOME": str(tmp_path / "home"),
        "TESSERA_REDIS_URL": REDIS_URL,
        "TESSERA_HEARTBEAT_INTERVAL": "0.5",
    }
    port = _free_port()
    process = subprocess.Popen(
        [str(TESSERA), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("tessera serve did not start")
            time.sleep(0.2)
        added = subprocess.run(
            [str(TESSERA), "clients", "add", "svc", "--audience", API, "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        yield f"{base}/t/default", json.loads(added.stdout)["client_secret"]
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


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
