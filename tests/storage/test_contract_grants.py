"""THE storage contract, part two: users, sessions, consents, pending requests, codes and
refresh families. Every test runs against every backend (SQLite and PostgreSQL).

The single-use and compare-and-set operations are raced here for real: 50 concurrent calls,
from two stores (two connection pools, as two processes would have).
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3

import pytest
import sqlalchemy as sa
from sqlalchemy import text

from tessera.errors import ConflictError, NotFoundError
from tessera.storage.records import Tenant
from tessera.storage.sql import open_store
from tessera.storage.tables import refresh_tokens
from tessera.storage.user_records import (
    AuthorizationCode,
    Consent,
    FamilyToken,
    LoginSession,
    PendingRequest,
    RefreshFamily,
    RefreshToken,
    User,
)

T0 = 1_700_000_000.123456  # sub-second precision must survive every backend
DAY = 86_400.0
RACERS = 50


def h(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def user(uid="u1", tid="acme", email="ada@example.com", **kw):
    fields = {
        "tenant_id": tid,
        "user_id": uid,
        "email": email,
        "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        "name": "Ada Lovelace",
        "disabled": False,
        "created_at": T0,
        "updated_at": T0 + 0.5,
    }
    return User(**fields | kw)


def session(label="s1", sid="sid-1", tid="acme", **kw):
    fields = {
        "session_hash": h(label),
        "session_id": sid,
        "tenant_id": tid,
        "user_id": "u1",
        "auth_time": T0 - 0.25,
        "created_at": T0,
        "expires_at": T0 + 3600.75,
    }
    return LoginSession(**fields | kw)


def request(label="r1", kind="par", **kw):
    fields = {
        "request_hash": h(label),
        "tenant_id": "acme",
        "client_id": "web",
        "kind": kind,
        "params": {"scope": "openid", "claims": {"id_token": {"ü": [1, None, True]}}},
        "created_at": T0,
        "expires_at": T0 + 60.5,
    }
    return PendingRequest(**fields | kw)


def code(label="c1", family_id="fam-1", **kw):
    fields = {
        "code_hash": h(label),
        "tenant_id": "acme",
        "client_id": "web",
        "user_id": "u1",
        "session_id": "sid-1",
        "redirect_uri": "https://app.example/cb",
        "scope": "openid profile",
        "audience": "https://api.example",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "nonce": "n-0S6_WzA2Mj",
        "auth_time": T0 - 1.5,
        "family_id": family_id,
        "issued_at": T0,
        "expires_at": T0 + 60.25,
        "claims": {"acr": "1", "amr": ["pwd"]},
    }
    return AuthorizationCode(**fields | kw)


def family(fid="fam-1", **kw):
    fields = {
        "family_id": fid,
        "tenant_id": "acme",
        "client_id": "web",
        "user_id": "u1",
        "session_id": "sid-1",
        "scope": "openid offline_access",
        "audience": "https://api.example",
        "auth_time": T0 - 1.5,
        "created_at": T0,
        "expires_at": T0 + 30 * DAY + 0.125,
    }
    return RefreshFamily(**fields | kw)


def refresh(label="rt-0", fid="fam-1", generation=0, **kw):
    fields = {
        "token_hash": h(label),
        "family_id": fid,
        "tenant_id": "acme",
        "client_id": "web",
        "generation": generation,
        "scope": "openid offline_access",
        "issued_at": T0 + generation,
        "expires_at": T0 + DAY + 0.375,
    }
    return RefreshToken(**fields | kw)


def access(jti="at-0", fid="fam-1", expires_at=T0 + 300.5):
    return FamilyToken(family_id=fid, tenant_id="acme", jti=jti, expires_at=expires_at)


async def granted(store, fid="fam-1"):
    """A family created by redeeming a code, with its first refresh token ``rt-0``."""
    await store.add_code(code(f"code-{fid}", family_id=fid))
    assert await store.redeem_code(
        h(f"code-{fid}"),
        now=T0 + 1,
        family=family(fid),
        first=refresh("rt-0" if fid == "fam-1" else f"{fid}-rt-0", fid),
        access=access("at-0" if fid == "fam-1" else f"{fid}-at-0", fid),
    )


@pytest.fixture
async def stores(store, database_url):
    """The store and a second one on the same database (another pool)."""
    second = await open_store(database_url)
    try:
        yield [store, second]
    finally:
        await second.close()


async def race(stores, calls):
    """Run ``calls(store, i)`` RACERS times at once, alternating between the stores."""
    return await asyncio.gather(*(calls(stores[i % 2], i) for i in range(RACERS)))


# --- users ---------------------------------------------------------------------------------


async def test_user_round_trips_exactly(store):
    await store.add_tenant(Tenant("acme", "Acme", T0))
    assert await store.get_user("acme", "u1") is None
    stored = user(name="Ada 漢 😀", disabled=True)
    await store.add_user(stored)
    got = await store.get_user("acme", "u1")
    assert got == stored
    assert type(got.disabled) is bool
    assert await store.find_user_by_email("acme", "ada@example.com") == stored
    assert await store.find_user_by_email("acme", "ADA@example.com") is None  # as stored
    assert await store.find_user_by_email("other", "ada@example.com") is None


async def test_user_ids_and_emails_are_unique_per_tenant(store):
    await store.add_tenant(Tenant("acme", "Acme", T0))
    await store.add_tenant(Tenant("beta", "Beta", T0))
    await store.add_user(user())
    with pytest.raises(ConflictError):
        await store.add_user(user(email="other@example.com"))  # same id
    with pytest.raises(ConflictError):
        await store.add_user(user("u2"))  # same email
    await store.add_user(user("u2", tid="beta"))  # same email, another tenant
    await store.add_user(user("u1", tid="beta", email="b@example.com"))  # same id, too
    assert [u.user_id for u in await store.list_users("acme")] == ["u1"]
    assert [u.email for u in await store.list_users("beta")] == [
        "ada@example.com",
        "b@example.com",
    ]


async def test_a_user_of_an_unknown_tenant_is_refused(store):
    with pytest.raises(NotFoundError):
        await store.add_user(user(tid="ghost"))


async def test_users_are_listed_by_email(store):
    await store.add_tenant(Tenant("acme", "Acme", T0))
    for uid, email in (("a", "zed@example.com"), ("b", "amy@example.com"), ("c", "m@x.org")):
        await store.add_user(user(uid, email=email))
    assert [u.user_id for u in await store.list_users("acme")] == ["b", "c", "a"]
    assert await store.list_users("nobody") == []


async def test_replace_user_overwrites_and_keeps_emails_unique(store):
    await store.add_tenant(Tenant("acme", "Acme", T0))
    await store.add_user(user())
    await store.add_user(user("u2", email="bob@example.com"))
    changed = user(
        email="ada@new.example",
        password_hash="$argon2id$v=19$m=131072,t=4,p=4$bmV3$bmV3",
        name="Ada",
        disabled=True,
        updated_at=T0 + 99.75,
    )
    await store.replace_user(changed)
    assert await store.get_user("acme", "u1") == changed
    assert await store.find_user_by_email("acme", "ada@example.com") is None
    with pytest.raises(ConflictError):
        await store.replace_user(user(email="bob@example.com"))
    assert await store.get_user("acme", "u1") == changed


async def test_replacing_a_missing_user_is_not_found(store):
    await store.add_tenant(Tenant("acme", "Acme", T0))
    with pytest.raises(NotFoundError):
        await store.replace_user(user())
    assert await store.list_users("acme") == []


# --- login sessions ------------------------------------------------------------------------


async def test_session_round_trips_and_is_live_until_it_expires(store):
    stored = session()
    await store.add_session(stored)
    got = await store.find_live_session(h("s1"), now=T0)
    assert got == stored
    assert type(got.session_hash) is bytes
    assert await store.find_live_session(h("s1"), now=T0 + 3600.7) == stored
    assert await store.find_live_session(h("s1"), now=T0 + 3600.75) is None
    assert await store.find_live_session(h("nope"), now=T0) is None


async def test_session_hashes_and_ids_are_unique(store):
    await store.add_session(session())
    with pytest.raises(ConflictError):
        await store.add_session(session(sid="sid-2"))  # same hash
    with pytest.raises(ConflictError):
        await store.add_session(session("s2"))  # same sid in the tenant
    await store.add_session(session("s3", tid="beta"))  # same sid, another tenant


async def test_ending_a_session_is_idempotent_and_per_tenant(store):
    await store.add_session(session())
    await store.add_session(session("s2", tid="beta"))
    assert await store.end_session("acme", "sid-1", now=T0 + 10.5) is True
    assert await store.end_session("acme", "sid-1", now=T0 + 11) is False
    assert await store.find_live_session(h("s1"), now=T0 + 10.5) is None
    assert await store.find_live_session(h("s2"), now=T0 + 10.5) is not None
    assert await store.end_session("acme", "unknown", now=T0) is False


async def test_ending_an_expired_session_reports_it_was_not_live(store):
    await store.add_session(session())
    assert await store.end_session("acme", "sid-1", now=T0 + 3600.75) is False


async def test_purge_drops_expired_and_ended_sessions(store):
    await store.add_session(session("live", "sid-live", expires_at=T0 + 100))
    await store.add_session(session("old", "sid-old", expires_at=T0 + 10))
    await store.add_session(session("ended", "sid-ended", expires_at=T0 + 100))
    await store.end_session("acme", "sid-ended", now=T0 + 5)
    assert await store.purge_sessions(T0 + 4) == 0
    assert await store.purge_sessions(T0 + 10) == 2
    assert await store.purge_sessions(T0 + 10) == 0
    assert await store.find_live_session(h("live"), now=T0 + 10) is not None


# --- consents ------------------------------------------------------------------------------


async def test_consent_is_put_replaced_and_kept_per_client(store):
    assert await store.get_consent("acme", "u1", "web") is None
    first = Consent("acme", "u1", "web", frozenset({"profile", "email", "openid"}), T0)
    await store.put_consent(first)
    got = await store.get_consent("acme", "u1", "web")
    assert got == first
    assert type(got.scopes) is frozenset
    narrower = Consent("acme", "u1", "web", frozenset({"openid"}), T0 + 9.5)
    await store.put_consent(narrower)
    assert await store.get_consent("acme", "u1", "web") == narrower
    assert await store.get_consent("acme", "u1", "other") is None
    assert await store.get_consent("acme", "u2", "web") is None
    assert await store.get_consent("beta", "u1", "web") is None


# --- pending requests ----------------------------------------------------------------------


async def test_pending_request_round_trips_exactly(store):
    par = request()
    interaction = request("r2", "interaction", binding_hash=h("cookie"), params={})
    await store.add_request(par)
    await store.add_request(interaction)
    assert await store.get_request(h("r1"), now=T0) == par
    got = await store.get_request(h("r2"), now=T0)
    assert got == interaction
    assert type(got.binding_hash) is bytes
    assert type(got.params) is dict
    with pytest.raises(ConflictError):
        await store.add_request(request(kind="interaction"))


async def test_an_expired_request_is_neither_read_nor_taken(store):
    await store.add_request(request())
    assert await store.get_request(h("r1"), now=T0 + 60.4) is not None
    assert await store.get_request(h("r1"), now=T0 + 60.5) is None
    assert await store.take_request(h("r1"), now=T0 + 60.5) is None
    assert await store.take_request(h("unknown"), now=T0) is None


async def test_a_request_is_taken_once(store):
    await store.add_request(request())
    assert await store.take_request(h("r1"), now=T0) == request()
    assert await store.take_request(h("r1"), now=T0) is None
    assert await store.get_request(h("r1"), now=T0) is None


async def test_concurrent_takes_of_a_request_have_exactly_one_winner(stores):
    await stores[0].add_request(request())
    results = await race(stores, lambda s, _: s.take_request(h("r1"), now=T0))
    assert [r for r in results if r is not None] == [request()]


async def test_purge_drops_expired_requests(store):
    await store.add_request(request("old", expires_at=T0 + 10))
    await store.add_request(request("new", expires_at=T0 + 20))
    assert await store.purge_authorization(T0 + 9) == 0
    assert await store.purge_authorization(T0 + 10) == 1
    assert await store.get_request(h("new"), now=T0) is not None


# --- authorization codes -------------------------------------------------------------------


async def test_code_round_trips_exactly(store):
    assert await store.get_code(h("c1")) is None
    stored = code(session_id=None, nonce=None, claims={"n": [1.5, {"ß": None}]})
    await store.add_code(stored)
    got = await store.get_code(h("c1"))
    assert got == stored
    assert type(got.code_hash) is bytes
    assert type(got.claims) is dict
    with pytest.raises(ConflictError):
        await store.add_code(code(family_id="fam-2"))


async def test_redeeming_a_code_creates_its_family_once(store):
    await store.add_code(code())
    grant = {"family": family(), "first": refresh(), "access": access()}
    assert await store.redeem_code(h("c1"), now=T0 + 2.5, **grant) is True
    assert (await store.get_code(h("c1"))).consumed_at == T0 + 2.5
    assert await store.get_family("fam-1") == family()
    assert await store.get_refresh(h("rt-0")) == (refresh(), family())
    assert await store.revoke_family("fam-1", reason="check", now=T0) == (True, [access()])


async def test_a_redeemed_or_unknown_code_writes_nothing(store):
    await granted(store)
    replay = {
        "family": family("fam-2"),
        "first": refresh("rt-x", "fam-2"),
        "access": access("at-x", "fam-2"),
    }
    assert await store.redeem_code(h("code-fam-1"), now=T0 + 3, **replay) is False
    assert await store.redeem_code(h("unknown"), now=T0 + 3, **replay) is False
    assert (await store.get_code(h("code-fam-1"))).consumed_at == T0 + 1
    assert await store.get_family("fam-2") is None
    assert await store.get_refresh(h("rt-x")) is None


async def test_a_code_redeemed_without_a_refresh_token_creates_the_family(store):
    await store.add_code(code())
    assert await store.redeem_code(h("c1"), now=T0, family=family(), first=None, access=access())
    assert await store.get_family("fam-1") == family()
    assert await store.revoke_family("fam-1", reason="check", now=T0) == (True, [access()])


async def test_redeeming_into_another_family_is_refused_and_writes_nothing(store):
    await store.add_code(code())
    with pytest.raises(ValueError, match="family"):
        await store.redeem_code(
            h("c1"), now=T0, family=family("fam-2"), first=None, access=access(fid="fam-2")
        )
    with pytest.raises(ValueError, match="family"):
        await store.redeem_code(
            h("c1"), now=T0, family=family(), first=None, access=access(fid="x")
        )
    assert (await store.get_code(h("c1"))).consumed_at is None
    assert await store.get_family("fam-2") is None


async def test_a_failed_redemption_leaves_the_code_unconsumed(store):
    await granted(store)  # fam-1 exists
    await store.add_code(code("c2"))  # wrongly issued for the same family
    with pytest.raises(ConflictError):
        await store.redeem_code(
            h("c2"), now=T0, family=family(), first=refresh("rt-new"), access=access("at-new")
        )
    assert (await store.get_code(h("c2"))).consumed_at is None
    assert await store.get_refresh(h("rt-new")) is None


async def test_concurrent_redemptions_have_exactly_one_winner(stores):
    await stores[0].add_code(code())

    def redeem(store, i):
        return store.redeem_code(
            h("c1"),
            now=T0 + i,
            family=family(),
            first=refresh(f"rt-{i}"),
            access=access(f"at-{i}"),
        )

    results = await race(stores, redeem)
    assert results.count(True) == 1
    winner = results.index(True)
    assert (await stores[0].get_code(h("c1"))).consumed_at == T0 + winner
    assert await stores[1].get_family("fam-1") == family()
    found = [i for i in range(RACERS) if await stores[0].get_refresh(h(f"rt-{i}"))]
    assert found == [winner]
    _, tokens = await stores[0].revoke_family("fam-1", reason="check", now=T0)
    assert tokens == [access(f"at-{winner}")]


async def test_purge_keeps_consumed_codes_a_day_past_expiry(store):
    await store.add_code(code("unused", expires_at=T0 + 60))
    await granted(store)  # consumed; expires at T0 + 60.25
    assert await store.purge_authorization(T0 + 59) == 0
    assert await store.purge_authorization(T0 + 60) == 1
    assert await store.get_code(h("unused")) is None
    assert await store.purge_authorization(T0 + 60.25 + DAY - 0.5) == 0
    assert await store.get_code(h("code-fam-1")) is not None  # a replay is still detected
    assert await store.purge_authorization(T0 + 60.25 + DAY) == 1
    assert await store.get_code(h("code-fam-1")) is None
    assert await store.get_family("fam-1") is not None  # the grant outlives its code


# --- refresh families ----------------------------------------------------------------------


async def test_refresh_token_and_family_round_trip(store):
    assert await store.get_refresh(h("rt-0")) is None
    assert await store.get_family("fam-1") is None
    await granted(store)
    token, fam = await store.get_refresh(h("rt-0"))
    assert (token, fam) == (refresh(), family())
    assert type(token.token_hash) is bytes
    assert token.successor_hash is None


async def test_rotation_marks_the_parent_and_records_the_successor(store):
    await granted(store)
    successor = refresh("rt-1", generation=1)
    assert await store.rotate_refresh(
        h("rt-0"), successor=successor, access=access("at-1"), now=T0 + 7.5
    )
    parent, _ = await store.get_refresh(h("rt-0"))
    assert parent == refresh(rotated_at=T0 + 7.5, successor_hash=h("rt-1"))
    assert await store.get_refresh(h("rt-1")) == (successor, family())
    _, tokens = await store.revoke_family("fam-1", reason="check", now=T0)
    assert tokens == [access("at-0"), access("at-1")]


async def test_rotating_a_rotated_parent_writes_nothing(store):
    await granted(store)
    assert await store.rotate_refresh(
        h("rt-0"), successor=refresh("rt-1", generation=1), access=access("at-1"), now=T0 + 1
    )
    assert not await store.rotate_refresh(
        h("rt-0"), successor=refresh("rt-2", generation=1), access=access("at-2"), now=T0 + 2
    )
    parent, _ = await store.get_refresh(h("rt-0"))
    assert (parent.rotated_at, parent.successor_hash) == (T0 + 1, h("rt-1"))
    assert await store.get_refresh(h("rt-2")) is None
    _, tokens = await store.revoke_family("fam-1", reason="check", now=T0)
    assert [t.jti for t in tokens] == ["at-0", "at-1"]


async def test_rotating_in_a_revoked_family_writes_nothing(store):
    await granted(store)
    await store.revoke_family("fam-1", reason="logout", now=T0 + 1)
    assert not await store.rotate_refresh(
        h("rt-0"), successor=refresh("rt-1", generation=1), access=access("at-1"), now=T0 + 2
    )
    parent, _ = await store.get_refresh(h("rt-0"))
    assert parent.rotated_at is None
    assert await store.get_refresh(h("rt-1")) is None
    assert await store.revoke_family("fam-1", reason="again", now=T0) == (False, [access()])


async def test_rotating_an_unknown_parent_writes_nothing(store):
    await granted(store)
    assert not await store.rotate_refresh(
        h("nope"), successor=refresh("rt-1", generation=1), access=access("at-1"), now=T0
    )
    assert await store.get_refresh(h("rt-1")) is None


async def test_rotating_into_another_family_is_refused(store):
    await granted(store)
    await granted(store, "fam-2")
    with pytest.raises(ValueError, match="family"):
        await store.rotate_refresh(
            h("rt-0"), successor=refresh("rt-1", "fam-2"), access=access("at-1", "fam-2"), now=T0
        )
    with pytest.raises(ValueError, match="family"):
        await store.rotate_refresh(
            h("rt-0"), successor=refresh("rt-1"), access=access("at-1", "fam-2"), now=T0
        )
    assert (await store.get_refresh(h("rt-0")))[0].rotated_at is None
    assert await store.get_refresh(h("rt-1")) is None


@pytest.mark.parametrize(
    ("successor", "jti"),
    [("fam-2-rt-0", "at-1"), ("rt-1", "at-0")],
    ids=["successor-hash-taken", "jti-taken"],
)
async def test_a_failed_rotation_rolls_the_parent_back(store, successor, jti):
    await granted(store)
    await granted(store, "fam-2")  # holds the token fam-2-rt-0
    with pytest.raises(ConflictError):
        await store.rotate_refresh(
            h("rt-0"), successor=refresh(successor, generation=1), access=access(jti), now=T0 + 9
        )
    assert await store.get_refresh(h("rt-0")) == (refresh(), family())  # not rotated
    assert (await store.get_refresh(h("fam-2-rt-0")))[0].family_id == "fam-2"
    assert await store.get_refresh(h("rt-1")) is None
    _, tokens = await store.revoke_family("fam-1", reason="check", now=T0)
    assert tokens == [access()]


async def test_concurrent_rotations_have_exactly_one_winner(stores):
    await granted(stores[0])

    def rotate(store, i):
        return store.rotate_refresh(
            h("rt-0"),
            successor=refresh(f"rt-1-{i}", generation=1),
            access=access(f"at-1-{i}"),
            now=T0 + 10 + i,
        )

    results = await race(stores, rotate)
    assert results.count(True) == 1
    winner = results.index(True)
    parent, _ = await stores[1].get_refresh(h("rt-0"))
    assert (parent.rotated_at, parent.successor_hash) == (T0 + 10 + winner, h(f"rt-1-{winner}"))
    found = [i for i in range(RACERS) if await stores[0].get_refresh(h(f"rt-1-{i}"))]
    assert found == [winner]
    _, tokens = await stores[0].revoke_family("fam-1", reason="check", now=T0)
    assert tokens == [access("at-0"), access(f"at-1-{winner}")]


async def test_no_rotation_slips_past_a_concurrent_revocation(stores):
    """Stress: a rotation that wins is seen by the concurrent revocation; one that loses
    wrote nothing. (The interleaving that matters most is forced below, on PostgreSQL.)"""
    await granted(stores[0])

    def rotate(store, i):
        return store.rotate_refresh(
            h("rt-0"),
            successor=refresh(f"rt-1-{i}", generation=1),
            access=access(f"at-1-{i}"),
            now=T0 + 5,
        )

    half = RACERS // 2
    results = await asyncio.gather(
        *(rotate(stores[i % 2], i) for i in range(half)),
        stores[1].revoke_family("fam-1", reason="reuse", now=T0 + 5),
        *(rotate(stores[i % 2], i) for i in range(half, RACERS)),
    )
    newly, tokens = results[half]
    rotated = results[:half] + results[half + 1 :]
    assert newly is True
    assert rotated.count(True) <= 1
    denied = {t.jti for t in tokens}
    for i, won in enumerate(rotated):
        assert (f"at-1-{i}" in denied) is won
        assert (await stores[0].get_refresh(h(f"rt-1-{i}")) is not None) is won


async def _lock_waiters(store) -> int:
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with store.engine.connect() as conn:
        return await conn.scalar(query)


async def _waiters_are(store, n) -> bool:
    return await _lock_waiters(store) == n


async def _until(condition) -> None:
    for _ in range(1000):
        if await condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail("the interleaving was never reached")


# PostgreSQL only: SQLite runs write transactions one at a time on its database lock, so
# this interleaving cannot arise there.
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_revocation_waits_for_a_rotation_in_flight(store):
    """PostgreSQL: a rotation stopped mid-transaction holds its family's lock, so a revocation
    waits for it and then lists the access token it recorded: no ``jti`` escapes denial."""
    await granted(store)
    parent_lock = (
        sa.select(refresh_tokens.c.token_hash)
        .where(refresh_tokens.c.token_hash == h("rt-0"))
        .with_for_update()
    )
    async with store.engine.connect() as blocker:
        await blocker.execute(parent_lock)  # the rotation will wait on this row
        rotation = asyncio.create_task(
            store.rotate_refresh(
                h("rt-0"), successor=refresh("rt-1", generation=1), access=access("at-1"), now=T0
            )
        )
        await _until(lambda: _waiters_are(store, 1))
        revocation = asyncio.create_task(store.revoke_family("fam-1", reason="reuse", now=T0))

        async def revocation_done_or_waiting():
            return revocation.done() or await _lock_waiters(store) == 2

        await _until(revocation_done_or_waiting)
        assert not revocation.done(), "the revocation did not wait for the rotation"
        await blocker.rollback()
    assert await rotation is True
    assert await revocation == (True, [access(), access("at-1")])


async def test_record_access_adds_to_the_family(store):
    await granted(store)
    assert await store.record_access(access("grace", expires_at=T0 + 60.125)) is True
    with pytest.raises(ConflictError):
        await store.record_access(access("grace"))
    assert await store.record_access(access("orphan", fid="ghost")) is False
    _, tokens = await store.revoke_family("fam-1", reason="check", now=T0)
    assert tokens == [access("grace", expires_at=T0 + 60.125), access()]
    # After the revocation nothing more is recorded (it could never be denied).
    assert await store.record_access(access("late")) is False
    _, tokens = await store.revoke_family("fam-1", reason="again", now=T0)
    assert access("late") not in tokens


async def test_revoking_a_family_is_idempotent_and_lists_live_tokens(store):
    await granted(store)
    await store.record_access(access("short", expires_at=T0 + 10))
    await store.record_access(access("long", expires_at=T0 + 900.5))
    newly, tokens = await store.revoke_family("fam-1", reason="reuse_detected", now=T0 + 10)
    assert newly is True
    assert tokens == [access(), access("long", expires_at=T0 + 900.5)]  # "short" has expired
    newly, tokens = await store.revoke_family("fam-1", reason="logout", now=T0 + 400)
    assert newly is False
    assert tokens == [access("long", expires_at=T0 + 900.5)]
    assert await store.get_family("fam-1") == family(
        revoked_at=T0 + 10, revoked_reason="reuse_detected"
    )
    assert (await store.get_refresh(h("rt-0")))[1].revoked_reason == "reuse_detected"
    assert await store.revoke_family("ghost", reason="x", now=T0) == (False, [])


async def test_families_of_a_session_are_the_unrevoked_ones(store):
    for fid in ("fam-b", "fam-a", "fam-c"):
        await granted(store, fid)
    await store.add_code(code("other", family_id="fam-x"))
    await store.redeem_code(
        h("other"),
        now=T0,
        family=family("fam-x", session_id="sid-2"),
        first=None,
        access=access("x", "fam-x"),
    )
    await store.add_code(code("none", family_id="fam-n"))
    await store.redeem_code(
        h("none"),
        now=T0,
        family=family("fam-n", session_id=None),
        first=None,
        access=access("n", "fam-n"),
    )
    await store.revoke_family("fam-c", reason="logout", now=T0)
    assert await store.families_of_session("acme", "sid-1") == ["fam-a", "fam-b"]
    assert await store.families_of_session("acme", "sid-2") == ["fam-x"]
    assert await store.families_of_session("beta", "sid-1") == []


async def test_purge_drops_ended_families_with_their_rows(store):
    await granted(store)  # ends at T0 + 30 days + 0.125
    await store.rotate_refresh(h("rt-0"), successor=refresh("rt-1"), access=access("a1"), now=T0)
    await store.add_code(code("c2", family_id="fam-2"))
    await store.redeem_code(
        h("c2"),
        now=T0,
        family=family("fam-2", expires_at=T0 + 60 * DAY),
        first=refresh("rt-2", "fam-2"),
        access=access("a2", "fam-2", expires_at=T0 + 900),
    )
    # Access-token records go at their own expiry, the family's rows stay.
    assert await store.purge_refresh(T0 + 300) == 0
    assert await store.purge_refresh(T0 + 300.5) == 2  # at-0, a1
    assert await store.get_refresh(h("rt-0")) is not None
    # The family goes at its absolute end: itself and its two refresh tokens.
    assert await store.purge_refresh(T0 + 30 * DAY + 0.125) == 4  # + a2 (expired at T0+900)
    assert await store.get_family("fam-1") is None
    assert await store.get_refresh(h("rt-0")) is None
    assert await store.get_refresh(h("rt-1")) is None
    assert await store.get_refresh(h("rt-2")) is not None
    assert await store.purge_refresh(T0 + 30 * DAY + 0.125) == 0


# SQLite only: the direct-driver rotation (hot_writes) gives way when another process holds
# the write lock; the general path then waits for it. Both paths must keep the contract.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_rotation_waits_for_another_writer_then_keeps_the_contract(store):
    await granted(store)
    other = sqlite3.connect(store.engine.url.database, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process writing
        first = asyncio.ensure_future(
            store.rotate_refresh(
                h("rt-0"), successor=refresh("rt-1", generation=1), access=access("at-1"),
                now=T0 + 1,
            )
        )  # fmt: skip
        await asyncio.sleep(0.3)
        assert not first.done(), "the rotation did not wait for the write lock"
        # While it waits, a second attempt also gives way; after the lock, exactly one wins.
        second = asyncio.ensure_future(
            store.rotate_refresh(
                h("rt-0"), successor=refresh("rt-2", generation=1), access=access("at-2"),
                now=T0 + 2,
            )
        )  # fmt: skip
        await asyncio.sleep(0.1)
        other.execute("COMMIT")
        results = await asyncio.gather(first, second)
    finally:
        other.close()
    assert sorted(results) == [False, True]
    parent, _ = await store.get_refresh(h("rt-0"))
    winner = "rt-1" if results[0] else "rt-2"
    assert parent.successor_hash == h(winner)
    assert await store.get_refresh(h("rt-2" if winner == "rt-1" else "rt-1")) is None
