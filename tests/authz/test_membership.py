"""Membership is re-checked against the application's records through a bounded TTL cache.

``DictMembership`` below is a real source of truth for these tests (the application's table,
in memory), and ``SqliteMembership`` shows the protocol over a database.
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from tessera.authz import MembershipCache, MembershipSource, Principal, authorize_principal
from tessera.errors import ConfigurationError, NotAMember
from tessera.events.bus import InProcessBus, RevocationEvent


class DictMembership:
    """The application's membership table: {(tenant, subject): roles}; counts its queries."""

    def __init__(self, rows=None):
        self.rows: dict[tuple[str, str], frozenset[str]] = dict(rows or {})
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.fail: Exception | None = None

    async def roles(self, tenant_id, subject):
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return self.rows.get((tenant_id, subject))


class SqliteMembership:
    """A source over ``memberships(tenant_id, subject, role)``: no row means not a member.

    A member with no role has one row whose ``role`` is NULL.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    async def roles(self, tenant_id, subject):
        rows = self.db.execute(
            "SELECT role FROM memberships WHERE tenant_id = ? AND subject = ?",
            (tenant_id, subject),
        ).fetchall()
        if not rows:
            return None
        return frozenset(r[0] for r in rows if r[0] is not None)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _principal(tenant="A", subject="alice", scopes=("data:read",)):
    return Principal(subject=subject, client_id="app", tenant_id=tenant, scopes=frozenset(scopes))


@pytest.fixture
def source():
    return DictMembership({("A", "alice"): frozenset({"admin"}), ("B", "bob"): frozenset()})


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def cache(source, clock):
    return MembershipCache(source, ttl=30.0, clock=clock)


def test_sources_fit_the_protocol():
    db = sqlite3.connect(":memory:")
    sources: list[MembershipSource] = [DictMembership(), SqliteMembership(db)]
    assert len(sources) == 2


async def test_member_is_verified_with_roles(cache):
    p = await authorize_principal(_principal(), cache)
    assert p.verified_tenant == "A"
    assert p.roles == {"admin"}


async def test_member_without_roles_is_still_a_member(cache):
    p = await authorize_principal(_principal("B", "bob"), cache)
    assert p.verified_tenant == "B"
    assert p.roles == frozenset()


async def test_cross_tenant_claim_is_refused(cache):
    """A token claiming tenant B for a member of A only: 403, whatever the token says."""
    with pytest.raises(NotAMember) as caught:
        await authorize_principal(_principal("B", "alice"), cache)
    assert caught.value.code == "not_a_member"
    assert caught.value.fields == {"tenant_id": "B"}
    assert "alice" not in str(caught.value)


@pytest.mark.parametrize(("tenant", "subject"), [(None, "alice"), ("A", None), ("", "alice")])
async def test_nothing_to_check_is_refused(cache, source, tenant, subject):
    with pytest.raises(NotAMember):
        await authorize_principal(_principal(tenant, subject), cache)
    assert source.calls == 0


async def test_removed_member_loses_access_at_once_after_invalidate(cache, source):
    await authorize_principal(_principal(), cache)
    del source.rows["A", "alice"]
    cache.invalidate("A", "alice")
    with pytest.raises(NotAMember):
        await authorize_principal(_principal(), cache)


async def test_without_invalidation_removal_shows_once_the_ttl_passes(cache, source, clock):
    await authorize_principal(_principal(), cache)
    del source.rows["A", "alice"]
    clock.now += 29.9
    assert (await authorize_principal(_principal(), cache)).roles == {"admin"}  # stale, bounded
    clock.now += 0.1
    with pytest.raises(NotAMember):
        await authorize_principal(_principal(), cache)
    assert source.calls == 2


async def test_role_change_shows_after_invalidate(cache, source):
    await authorize_principal(_principal(), cache)
    source.rows["A", "alice"] = frozenset({"viewer"})
    cache.invalidate("A", "alice")
    assert (await authorize_principal(_principal(), cache)).roles == {"viewer"}


async def test_negative_answers_are_cached_for_the_ttl(cache, source, clock):
    for _ in range(5):
        with pytest.raises(NotAMember):
            await authorize_principal(_principal("B", "alice"), cache)
    assert source.calls == 1
    source.rows["B", "alice"] = frozenset({"member"})
    clock.now += 30
    assert (await authorize_principal(_principal("B", "alice"), cache)).verified_tenant == "B"
    assert source.calls == 2


async def test_hits_do_not_query_the_source(cache, source):
    for _ in range(10):
        await authorize_principal(_principal(), cache)
    assert source.calls == 1


async def test_single_flight(cache, source):
    source.gate = asyncio.Event()
    lookups = [asyncio.ensure_future(cache.roles("A", "alice")) for _ in range(50)]
    await asyncio.sleep(0)
    source.gate.set()
    results = await asyncio.gather(*lookups)
    assert results == [frozenset({"admin"})] * 50
    assert source.calls == 1


async def test_one_waiter_cancelled_does_not_fail_the_others(cache, source):
    source.gate = asyncio.Event()
    first = asyncio.ensure_future(cache.roles("A", "alice"))
    second = asyncio.ensure_future(cache.roles("A", "alice"))
    await asyncio.sleep(0)
    first.cancel()
    source.gate.set()
    assert await second == {"admin"}
    assert first.cancelled()
    assert source.calls == 1


async def test_source_errors_reach_every_waiter_and_are_not_cached(cache, source):
    source.gate = asyncio.Event()
    source.fail = RuntimeError("database down")
    lookups = [asyncio.ensure_future(cache.roles("A", "alice")) for _ in range(3)]
    await asyncio.sleep(0)
    source.gate.set()
    results = await asyncio.gather(*lookups, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    source.gate, source.fail = None, None
    assert await cache.roles("A", "alice") == {"admin"}
    assert source.calls == 2


async def test_invalidate_during_a_load_keeps_its_answer_out_of_the_cache(cache, source):
    source.gate = asyncio.Event()
    stale = asyncio.ensure_future(cache.roles("A", "alice"))
    await asyncio.sleep(0)
    del source.rows["A", "alice"]  # changed while the first query is in flight …
    cache.invalidate("A", "alice")
    source.gate.set()
    await stale  # … that query may have read the old row; it must not be kept
    assert len(cache) == 0
    assert await cache.roles("A", "alice") is None


async def test_on_revocation_clears_that_tenant_only(cache, source):
    source.rows["A", "carol"] = frozenset({"member"})
    for tenant, subject in [("A", "alice"), ("A", "carol"), ("B", "bob")]:
        await cache.roles(tenant, subject)
    bus = InProcessBus()
    unsubscribe = bus.subscribe(cache.on_revocation)
    del source.rows["A", "alice"]
    await bus.publish(
        RevocationEvent(kind="jti", tenant_id="A", value="jti-1", expires_at=2e9, issued_at=1e9)
    )
    unsubscribe()
    assert len(cache) == 1  # B's entry stays
    with pytest.raises(NotAMember):
        await authorize_principal(_principal(), cache)
    await cache.roles("B", "bob")
    assert source.calls == 4  # 3 loads + alice again; bob still cached


async def test_family_revocation_clears_too(cache, source):
    await cache.roles("A", "alice")
    cache.on_revocation(
        RevocationEvent(kind="family", tenant_id="A", value="f", expires_at=2e9, issued_at=1e9)
    )
    assert len(cache) == 0


async def test_invalidate_tenant_and_clear(cache):
    await cache.roles("A", "alice")
    await cache.roles("B", "bob")
    cache.invalidate_tenant("A")
    assert len(cache) == 1
    cache.invalidate_tenant("nobody")
    cache.clear()
    assert len(cache) == 0


async def test_lru_bound(source, clock):
    cache = MembershipCache(source, clock=clock, max_entries=3)
    for subject in ("s1", "s2", "s3"):
        await cache.roles("A", subject)
    await cache.roles("A", "s1")  # s1 is now the most recently used
    await cache.roles("A", "s4")  # evicts s2, the least recently used
    assert len(cache) == 3
    calls = source.calls
    await cache.roles("A", "s1")
    assert source.calls == calls
    await cache.roles("A", "s2")
    assert source.calls == calls + 1


async def test_evicted_entries_leave_the_tenant_index(source, clock):
    cache = MembershipCache(source, clock=clock, max_entries=1)
    await cache.roles("A", "alice")
    await cache.roles("B", "bob")
    assert cache._by_tenant == {"B": {"bob"}}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ttl": 0},
        {"ttl": -1},
        {"ttl": float("inf")},
        {"ttl": float("nan")},
        {"ttl": True},
        {"max_entries": 0},
        {"max_entries": 1.5},
    ],
)
def test_configuration_is_checked(source, kwargs):
    with pytest.raises(ConfigurationError):
        MembershipCache(source, **kwargs)


async def test_sql_backed_source(clock):
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE TABLE memberships (tenant_id TEXT NOT NULL, subject TEXT NOT NULL, role TEXT)"
    )
    db.executemany(
        "INSERT INTO memberships VALUES (?, ?, ?)",
        [("A", "alice", "admin"), ("A", "alice", "billing"), ("B", "bob", None)],
    )
    cache = MembershipCache(SqliteMembership(db), clock=clock)
    alice = await authorize_principal(_principal("A", "alice"), cache)
    assert alice.roles == {"admin", "billing"}
    assert (await authorize_principal(_principal("B", "bob"), cache)).roles == frozenset()
    with pytest.raises(NotAMember):
        await authorize_principal(_principal("B", "alice"), cache)  # cross-tenant claim
    db.execute("DELETE FROM memberships WHERE tenant_id = 'A' AND subject = 'alice'")
    cache.invalidate("A", "alice")
    with pytest.raises(NotAMember):
        await authorize_principal(_principal("A", "alice"), cache)
    db.close()
