"""Revocation reaching verifiers, over a real Redis (pub/sub + stream), with bounded staleness.

Redis comes from ``TESSERA_TEST_REDIS_URL`` (default the local 127.0.0.1:6379); each test
uses its own stream and channel. Unreachable Redis skips, except where CI is set: there it
fails. Staleness uses a fake clock; delivery waits are bounded polls, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time

import pytest
import redis.asyncio as aioredis

from shared_data import IN_CI
from tessera.errors import RevocationFeedStale, TokenRevoked
from tessera.events.bus import RevocationEvent
from tessera.events.redis_bus import RedisEventBus
from tessera.jose import KeySet, SigningKey, encode_jwt
from tessera.verify import RedisRevocationSubscriber, RevocationFeed, Verifier

REDIS_URL = os.environ.get("TESSERA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ISS = "https://auth.example.test/t/acme"
AUD = "https://api.example.test"
KEY = SigningKey.generate("ES256")


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def names():
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except OSError as exc:
        message = f"Redis unavailable at {REDIS_URL}: {exc!r}"
        if IN_CI:
            pytest.fail(message + " (CI must run the Redis tests)", pytrace=False)
        pytest.skip(message)
    suffix = secrets.token_hex(6)
    stream, channel = f"test:rev:{suffix}", f"test:rev:{suffix}"
    try:
        yield stream, channel
    finally:
        await client.delete(stream)
        await client.aclose()


def _token(jti: str, now: float) -> str:
    claims = {"iss": ISS, "aud": AUD, "sub": "u", "iat": int(now), "exp": int(now) + 300}
    return encode_jwt({**claims, "jti": jti}, KEY)


def _verifier(feed: RevocationFeed, clock: Clock) -> Verifier:
    return Verifier(
        issuer=ISS,
        audience=AUD,
        algorithms=["ES256"],
        keys=KeySet([KEY.public]),
        cache_size=100,
        revocation=feed,
        clock=clock,
    )


async def _until(condition, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.01)


async def test_revocation_reaches_the_verifier_and_empties_its_cache(names):
    stream, channel = names
    clock = Clock()
    feed = RevocationFeed(clock=clock)
    subscriber = RedisRevocationSubscriber(REDIS_URL, feed, stream=stream, channel=channel)
    bus = RedisEventBus(REDIS_URL, stream=stream, channel=channel, clock=clock)
    verifier = _verifier(feed, clock)
    subscriber.start()
    try:
        await _until(lambda: subscriber.connected)
        token = _token("jti-1", clock.now)
        verifier.verify(token)  # cached now
        await bus.publish(RevocationEvent("jti", "acme", "jti-1", clock.now + 300, clock.now))
        await _until(lambda: "jti-1" in feed._denied)
        with pytest.raises(TokenRevoked):
            verifier.verify(token)
        assert verifier.cache is not None
        assert len(verifier.cache) == 0
        assert verifier.verify(_token("jti-2", clock.now)).jwt_id == "jti-2"
    finally:
        await subscriber.stop()
        await bus.close()


async def test_a_silent_feed_fails_closed_after_max_staleness_and_heartbeats_keep_it_fresh(names):
    stream, channel = names
    clock = Clock()
    feed = RevocationFeed(max_staleness=30, clock=clock)
    subscriber = RedisRevocationSubscriber(REDIS_URL, feed, stream=stream, channel=channel)
    bus = RedisEventBus(REDIS_URL, stream=stream, channel=channel, clock=clock)
    verifier = _verifier(feed, clock)
    subscriber.start()
    try:
        await _until(lambda: subscriber.connected)
        clock.now += 25
        assert verifier.verify(_token("a", clock.now)).jwt_id == "a"
        await bus.heartbeat()
        await _until(lambda: feed.last_seen == clock.now)
        clock.now += 25  # 25 s since the heartbeat: still fresh
        assert verifier.verify(_token("b", clock.now)).jwt_id == "b"
        clock.now += 10  # 35 s of silence: fail closed, cached tokens included
        with pytest.raises(RevocationFeedStale):
            verifier.verify(_token("b", clock.now - 35))
        assert feed.health()["fresh"] is False
    finally:
        await subscriber.stop()
        await bus.close()


def test_fail_open_is_a_choice_and_is_reported():
    clock = Clock()
    feed = RevocationFeed(max_staleness=30, fail_open=True, clock=clock)
    verifier = _verifier(feed, clock)
    assert verifier.verify(_token("x", clock.now)).jwt_id == "x"  # never heard from: open
    health = feed.health()
    assert health["fresh"] is False
    assert health["fail_open"] is True


async def test_catch_up_replays_what_was_published_while_disconnected(names):
    stream, channel = names
    clock = Clock()
    bus = RedisEventBus(REDIS_URL, stream=stream, channel=channel, clock=clock)
    feed = RevocationFeed(clock=clock)
    subscriber = RedisRevocationSubscriber(REDIS_URL, feed, stream=stream, channel=channel)
    try:
        subscriber.start()
        await _until(lambda: subscriber.connected)
        await bus.publish(RevocationEvent("jti", "acme", "early", clock.now + 300, clock.now))
        await _until(lambda: "early" in feed._denied)
        await subscriber.stop()
        for i in range(20):  # while the verifier is away
            await bus.publish(RevocationEvent("jti", "acme", f"missed-{i}", clock.now + 300, 0))
        subscriber.start()
        await _until(lambda: "missed-19" in feed._denied)
        assert all(f"missed-{i}" in feed._denied for i in range(20))
    finally:
        await subscriber.stop()
        await bus.close()


def test_entries_leave_at_their_exp_and_a_full_denylist_fails_closed():
    clock = Clock()
    feed = RevocationFeed(max_entries=2, clock=clock)
    feed.apply(RevocationEvent("jti", "t", "one", clock.now + 10, clock.now))
    feed.apply(RevocationEvent("jti", "t", "two", clock.now + 100, clock.now))
    with pytest.raises(TokenRevoked):
        feed.check("one", clock.now)
    clock.now += 11
    feed.check("one", clock.now)  # past its exp: the token could not verify anyway
    feed.apply(RevocationEvent("jti", "t", "three", clock.now + 100, clock.now))  # purge → fits
    assert feed.health()["entries"] == 2
    feed.apply(RevocationEvent("jti", "t", "four", clock.now + 100, clock.now))  # full
    with pytest.raises(RevocationFeedStale):
        feed.check("anything", clock.now)


async def test_starting_at_the_stream_end_skips_history_but_gets_new_events(names):
    stream, channel = names
    clock = Clock()
    bus = RedisEventBus(REDIS_URL, stream=stream, channel=channel, clock=clock)
    await bus.publish(RevocationEvent("jti", "acme", "old", clock.now + 300, clock.now))
    feed = RevocationFeed(clock=clock)
    subscriber = RedisRevocationSubscriber(
        REDIS_URL, feed, stream=stream, channel=channel, last_id=None
    )
    try:
        subscriber.start()
        await _until(lambda: subscriber.connected)
        await bus.publish(RevocationEvent("jti", "acme", "new", clock.now + 300, clock.now))
        await _until(lambda: "new" in feed._denied)
        assert "old" not in feed._denied
    finally:
        await subscriber.stop()
        await bus.close()
