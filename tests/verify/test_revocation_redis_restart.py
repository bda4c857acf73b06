"""Redis goes away → the verifier fails closed after max_staleness; Redis returns → it
recovers and catches up, from the stream, on what it missed on pub/sub.

A private redis-server on a free loopback port (AOF on, so the stream survives the restart);
heartbeats from a RedisEventBus as the server would send them. Waits are bounded polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time

import pytest
from redis.exceptions import RedisError

from shared_data import IN_CI
from tessera.errors import RevocationFeedStale, TokenRevoked
from tessera.events.bus import RevocationEvent
from tessera.events.redis_bus import RedisEventBus
from tessera.verify import RedisRevocationSubscriber, RevocationFeed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(port: int, data_dir) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "yes", "--dir", str(data_dir)]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _until(condition, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.02)


async def _heartbeats(bus: RedisEventBus) -> None:
    while True:
        with contextlib.suppress(RedisError, OSError):  # Redis is down on purpose
            await bus.heartbeat()
        await asyncio.sleep(0.1)


async def test_fail_closed_while_redis_is_down_then_recover_with_catch_up(tmp_path):
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    redis_proc = _start(port, tmp_path)
    feed = RevocationFeed(max_staleness=1.0)
    subscriber = RedisRevocationSubscriber(url, feed, reconnect_delay=0.1)
    bus = RedisEventBus(url)
    beat = None
    try:
        subscriber.start()
        await _until(lambda: subscriber.connected)
        beat = asyncio.ensure_future(_heartbeats(bus))
        feed.check("some-jti", time.time())  # fresh: no error

        redis_proc.terminate()
        redis_proc.wait(timeout=10)
        await _until(lambda: not subscriber.connected)

        def stale() -> bool:
            try:
                feed.check("some-jti", time.time())
            except RevocationFeedStale:
                return True
            return False

        await _until(stale, limit=5.0)  # silent > max_staleness: fail closed
        assert feed.health()["fresh"] is False

        redis_proc = _start(port, tmp_path)
        # Published before the subscriber is back: only the stream can deliver it.
        publisher = RedisEventBus(url)
        for _ in range(100):
            try:
                await publisher.publish(
                    RevocationEvent("jti", "acme", "missed", time.time() + 300, time.time())
                )
                break
            except (RedisError, OSError):  # still starting
                await asyncio.sleep(0.05)
        await publisher.close()
        await _until(lambda: "missed" in feed._denied)
        await _until(lambda: feed.health()["fresh"])
        feed.check("another-jti", time.time())  # recovered
        with pytest.raises(TokenRevoked):
            feed.check("missed", time.time())
    finally:
        if beat is not None:
            beat.cancel()
        await subscriber.stop()
        await bus.close()
        redis_proc.terminate()
        try:
            redis_proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            redis_proc.kill()
