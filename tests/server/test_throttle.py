"""The login throttle on both backends: per-process memory and a real Redis.

Redis comes from ``TESSERA_TEST_REDIS_URL`` (default the local 127.0.0.1:6379); each test
uses its own key prefix and deletes only its keys. Unreachable Redis skips, except where CI
is set: there it fails. Time is a fake ``now``; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from required import REDIS_URL, redis_client
from tessera.config import Settings
from tessera.errors import LoginThrottled
from tessera.server.throttle import (
    KeyPolicy,
    LoginThrottle,
    MemoryThrottleBackend,
    RedisThrottleBackend,
    ThrottleBackend,
    make_throttle,
)

T0 = 1_700_000_000.0
TENANT = "acme"
EMAIL = "alice@example.com"
IP = "192.0.2.10"
BACKOFF_AFTER, ACCOUNT_LOCKOUT, IP_BACKOFF_AFTER, IP_LOCKOUT = 3, 6, 8, 12
WINDOW, LOCKOUT = 900, 600


async def _redis_client() -> aioredis.Redis:
    return await redis_client(decode_responses=True)


async def _delete_keys(client: aioredis.Redis, prefix: str) -> None:
    keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)


@pytest.fixture
async def redis_prefix() -> AsyncIterator[tuple[aioredis.Redis, str]]:
    """A Redis client and a key prefix of this test's own; its keys are deleted after."""
    client = await _redis_client()
    prefix = f"test:login:{secrets.token_hex(6)}"
    try:
        yield client, prefix
    finally:
        await _delete_keys(client, prefix)
        await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def backend(request) -> AsyncIterator[ThrottleBackend]:
    if request.param == "memory":
        yield MemoryThrottleBackend()
        return
    client = await _redis_client()
    prefix = f"test:login:{secrets.token_hex(6)}"
    try:
        yield RedisThrottleBackend.from_url(REDIS_URL, prefix=prefix)
    finally:
        await _delete_keys(client, prefix)
        await client.aclose()


@pytest.fixture
async def throttle(backend) -> AsyncIterator[LoginThrottle]:
    settings = Settings(
        login_backoff_after=BACKOFF_AFTER,
        login_account_lockout=ACCOUNT_LOCKOUT,
        login_ip_backoff_after=IP_BACKOFF_AFTER,
        login_ip_lockout=IP_LOCKOUT,
        login_window=WINDOW,
        login_lockout_seconds=LOCKOUT,
    )
    made = LoginThrottle.from_settings(settings, backend)
    try:
        yield made
    finally:
        await made.aclose()


async def _fail(throttle, times: int, now: float, email: str = EMAIL, ip: str = IP) -> None:
    for _ in range(times):
        await throttle.record_failure(TENANT, email, ip, now)


async def _retry_after(throttle, now: float, email: str = EMAIL, ip: str = IP) -> int:
    """0 when allowed, else the ``retry_after`` of the refusal."""
    refusal: LoginThrottled | None = None
    try:
        await throttle.check(TENANT, email, ip, now)
    except LoginThrottled as exc:
        refusal = exc
    if refusal is None:
        return 0
    assert refusal.code == "login_throttled"
    assert not email or email not in refusal.message
    assert refusal.fields["retry_after"] == refusal.retry_after
    return refusal.retry_after


# ------------------------------------------------------------------------------ backoff


async def test_first_failures_are_free(throttle):
    assert await _retry_after(throttle, T0) == 0
    await _fail(throttle, BACKOFF_AFTER - 1, T0)
    assert await _retry_after(throttle, T0) == 0


async def test_backoff_doubles_after_the_threshold(throttle):
    """1 s after the 3rd failure, 2 s after the 4th, 4 s after the 5th."""
    now = T0
    await _fail(throttle, BACKOFF_AFTER - 1, now)
    for n in range(BACKOFF_AFTER, ACCOUNT_LOCKOUT):
        await _fail(throttle, 1, now)
        delay = 2 ** (n - BACKOFF_AFTER)
        assert await _retry_after(throttle, now) == delay
        assert await _retry_after(throttle, now + delay - 0.5) == 1
        now += delay
        assert await _retry_after(throttle, now) == 0


async def test_backoff_is_capped_at_60_seconds(backend):
    throttle = LoginThrottle(
        backend, backoff_after=3, account_lockout=50, ip_lockout=50, window=900, lockout_seconds=900
    )
    await _fail(throttle, 3 + 7, T0)  # 2**7 = 128 > 60
    assert await _retry_after(throttle, T0) == 60
    assert await _retry_after(throttle, T0 + 60) == 0
    await _fail(throttle, 20, T0 + 60)
    assert await _retry_after(throttle, T0 + 60) == 60
    await throttle.aclose()


async def test_retry_after_rounds_up(throttle):
    await _fail(throttle, BACKOFF_AFTER, T0)
    assert await _retry_after(throttle, T0 + 0.9) == 1


# ------------------------------------------------------------------------------ lockout


async def test_account_lockout_and_its_end(throttle):
    await _fail(throttle, ACCOUNT_LOCKOUT, T0)
    assert await _retry_after(throttle, T0) == LOCKOUT
    assert await _retry_after(throttle, T0 + LOCKOUT - 1) == 1
    assert await _retry_after(throttle, T0 + LOCKOUT) == 0
    # Still within the window: the count stands, so one more failure locks again.
    await _fail(throttle, 1, T0 + LOCKOUT)
    assert await _retry_after(throttle, T0 + LOCKOUT) == LOCKOUT


async def test_lockout_holds_when_longer_than_the_window(backend):
    throttle = LoginThrottle(
        backend, backoff_after=3, account_lockout=5, ip_lockout=50, window=60, lockout_seconds=600
    )
    await _fail(throttle, 5, T0)
    assert await _retry_after(throttle, T0 + 300) == 300
    await _fail(throttle, 1, T0 + 300)  # a racing attempt: the lock is kept and extended
    assert await _retry_after(throttle, T0 + 899) == 1
    assert await _retry_after(throttle, T0 + 900) == 0
    await throttle.aclose()


async def test_failures_lapse_after_a_quiet_window(throttle):
    await _fail(throttle, BACKOFF_AFTER, T0)
    assert await _retry_after(throttle, T0) == 1
    # Within the window the count goes on: 4 failures → 2 s.
    await _fail(throttle, 1, T0 + WINDOW - 1)
    assert await _retry_after(throttle, T0 + WINDOW - 1) == 2
    # A quiet window later it starts again from one.
    later = T0 + 2 * WINDOW
    await _fail(throttle, 1, later)
    assert await _retry_after(throttle, later) == 0
    await _fail(throttle, BACKOFF_AFTER - 2, later)
    assert await _retry_after(throttle, later) == 0
    await _fail(throttle, 1, later)
    assert await _retry_after(throttle, later) == 1


async def test_ip_lockout_across_accounts(throttle):
    """Password spraying: one failure each on many accounts from one address."""
    for i in range(IP_LOCKOUT):
        await _fail(throttle, 1, T0, email=f"user{i}@example.com")
    assert await _retry_after(throttle, T0, email="someone-new@example.com") == LOCKOUT
    # The accounts themselves are not throttled from elsewhere.
    assert await _retry_after(throttle, T0, email="user1@example.com", ip="198.51.100.7") == 0
    assert await _retry_after(throttle, T0 + LOCKOUT, email="someone-new@example.com") == 0


async def test_ip_backs_off_only_from_its_own_higher_count(throttle):
    """Shared addresses (NAT): a few typos by several people do not slow everyone; many
    failures from one address do, across accounts, before its lockout."""
    for i in range(IP_BACKOFF_AFTER - 1):
        await _fail(throttle, 1, T0, email=f"user{i}@example.com")
    assert await _retry_after(throttle, T0, email="someone-new@example.com") == 0
    await _fail(throttle, 1, T0, email="one-more@example.com")
    assert await _retry_after(throttle, T0, email="someone-new@example.com") == 1
    await _fail(throttle, 2, T0, email="and-more@example.com")
    assert await _retry_after(throttle, T0, email="someone-new@example.com") == 4
    # Another address is not slowed.
    assert await _retry_after(throttle, T0, email="someone-new@example.com", ip="198.51.100.7") == 0


# ------------------------------------------------------------------------------ success


async def test_success_clears_the_account_not_the_ip(throttle):
    await _fail(throttle, BACKOFF_AFTER, T0)
    assert await _retry_after(throttle, T0) == 1
    await throttle.record_success(TENANT, EMAIL, IP, T0)
    assert await _retry_after(throttle, T0) == 0
    await _fail(throttle, BACKOFF_AFTER - 1, T0)
    assert await _retry_after(throttle, T0) == 0  # counting restarted from zero

    for i in range(IP_LOCKOUT):
        await _fail(throttle, 1, T0, email=f"user{i}@example.com")
    await throttle.record_success(TENANT, "user0@example.com", IP, T0)
    assert await _retry_after(throttle, T0, email="user0@example.com") == LOCKOUT


# ------------------------------------------------------------------------------ keys


async def test_unknown_and_malformed_emails_are_counted_the_same(throttle):
    """The throttle never asks whether an account exists: lockout reveals nothing."""
    for email in ("nobody@example.com", "not an email", ""):
        await _fail(throttle, ACCOUNT_LOCKOUT, T0, email=email)
        assert await _retry_after(throttle, T0, email=email, ip="198.51.100.7") == LOCKOUT


async def test_email_variants_share_one_account_key(throttle):
    await _fail(throttle, 1, T0, email="Alice@Example.com")
    await _fail(throttle, 1, T0, email="  ALICE@example.COM ")
    await _fail(throttle, 1, T0, email="\uff41lice@example.com")  # full-width a
    assert await _retry_after(throttle, T0, email=EMAIL, ip="198.51.100.7") == 1


async def test_account_keys_are_per_tenant(throttle):
    await _fail(throttle, ACCOUNT_LOCKOUT, T0)
    with pytest.raises(LoginThrottled):
        await throttle.check(TENANT, EMAIL, "198.51.100.7", T0)
    await throttle.check("other-tenant", EMAIL, "198.51.100.7", T0)


async def test_ipv6_counts_per_64_and_mapped_ipv4_as_ipv4(throttle):
    for i in range(IP_LOCKOUT):
        await _fail(throttle, 1, T0, email=f"u{i}@example.com", ip=f"2001:db8:1:2::{i + 1:x}")
    assert await _retry_after(throttle, T0, email="x@example.com", ip="2001:db8:1:2:ffff::1") > 0
    assert await _retry_after(throttle, T0, email="x@example.com", ip="2001:db8:1:3::1") == 0
    for i in range(IP_LOCKOUT):
        await _fail(throttle, 1, T0, email=f"v{i}@example.com", ip="::ffff:192.0.2.99")
    assert await _retry_after(throttle, T0, email="x@example.com", ip="192.0.2.99") > 0


# ------------------------------------------------------------------------------ backends


async def test_memory_backend_is_bounded():
    backend = MemoryThrottleBackend(max_keys=3)
    policy = KeyPolicy(window=900, lock_at=5, lockout=900)
    for i in range(10):
        await backend.add_failure("account", f"digest{i}", now=T0 + i, policy=policy)
    assert len(backend) == 3
    assert await backend.get("account", "digest0") is None  # the oldest went first
    assert (await backend.get("account", "digest9")).count == 1


async def test_redis_keys_and_values_hold_no_email(redis_prefix):
    client, prefix = redis_prefix
    throttle = LoginThrottle(
        RedisThrottleBackend(aioredis.from_url(REDIS_URL, decode_responses=True), prefix=prefix),
        backoff_after=3,
        account_lockout=5,
        ip_lockout=50,
        window=900,
        lockout_seconds=600,
    )
    await _fail(throttle, 2, T0, email="Secret.Person@Example.com")
    keys = sorted([k async for k in client.scan_iter(match=f"{prefix}:*")])
    assert len(keys) == 2
    for key in keys:
        assert re.fullmatch(rf"{re.escape(prefix)}:(account|ip):[0-9a-f]{{64}}", key), key
        values = await client.hgetall(key)
        assert set(values) == {"n", "t"}
        dump = key + repr(values)
        for needle in ("secret", "person", "example", "@", "192.0.2"):
            assert needle not in dump.lower()
    await throttle.aclose()


async def test_redis_ttl_follows_the_window_and_the_lockout(redis_prefix):
    client, prefix = redis_prefix
    backend = RedisThrottleBackend(
        aioredis.from_url(REDIS_URL, decode_responses=True), prefix=prefix
    )
    policy = KeyPolicy(window=300, lock_at=3, lockout=1200)
    await backend.add_failure("account", "d" * 64, now=T0, policy=policy)
    ttl = await client.ttl(f"{prefix}:account:{'d' * 64}")
    assert 290 <= ttl <= 300
    await backend.add_failure("account", "d" * 64, now=T0, policy=policy)
    await backend.add_failure("account", "d" * 64, now=T0, policy=policy)
    ttl = await client.ttl(f"{prefix}:account:{'d' * 64}")
    assert 1190 <= ttl <= 1200
    await backend.aclose()


async def test_redis_counting_is_atomic_across_clients(redis_prefix):
    """Two processes' worth of clients adding at once lose no failure."""
    _, prefix = redis_prefix
    backends = [
        RedisThrottleBackend(aioredis.from_url(REDIS_URL, decode_responses=True), prefix=prefix)
        for _ in range(2)
    ]
    policy = KeyPolicy(window=900, lock_at=1000, lockout=900)
    await asyncio.gather(
        *(b.add_failure("ip", "e" * 64, now=T0, policy=policy) for b in backends for _ in range(25))
    )
    stored = await backends[0].get("ip", "e" * 64)
    assert stored is not None
    assert stored.count == 50
    assert stored.last == T0
    for b in backends:
        await b.aclose()


async def test_redis_down_still_throttles_per_process():
    throttle = LoginThrottle(
        RedisThrottleBackend.from_url("redis://127.0.0.1:1/0"),
        backoff_after=3,
        account_lockout=5,
        ip_lockout=50,
        window=900,
        lockout_seconds=600,
    )
    await _fail(throttle, 5, T0)
    assert await _retry_after(throttle, T0) == 600
    await throttle.record_success(TENANT, EMAIL, IP, T0)
    assert await _retry_after(throttle, T0) == 0
    await throttle.aclose()


async def test_make_throttle_chooses_the_backend_by_redis_url():
    settings = Settings()
    memory = make_throttle(settings, None)
    assert isinstance(memory._backend, MemoryThrottleBackend)
    shared = make_throttle(settings, REDIS_URL)
    assert isinstance(shared._backend, RedisThrottleBackend)
    assert "redis://" not in repr(shared)
    await memory.aclose()
    await shared.aclose()
