"""THE storage contract: every test here runs against every backend (SQLite and PostgreSQL).

A new backend is done when this file passes on it unchanged (ory/hydra's persister tests).
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from tessera.errors import ConflictError, NotFoundError, SchemaOutdated, StorageError
from tessera.storage.migrate import HEAD_REVISION, current_revision, upgrade
from tessera.storage.records import Client, KeyState, OpaqueToken, StoredKey, Tenant
from tessera.storage.sql import open_store
from tessera.storage.tables import metadata

T0 = 1_700_000_000.123456  # sub-second precision must survive every backend


def tenant(tid="acme", **kw):
    return Tenant(**{"id": tid, "name": f"{tid} Inc.", "created_at": T0} | kw)


def client(cid="svc", tid="acme", **kw):
    fields = {
        "tenant_id": tid,
        "client_id": cid,
        "name": "Billing service",
        "auth_method": "client_secret_basic",
        "secret_hash": bytes(range(32)),
        "grant_types": frozenset({"client_credentials", "refresh_token"}),
        "scopes": frozenset({"read", "write"}),
        "audiences": ("https://z.example", "https://a.example"),
        "token_format": "opaque",
        "access_token_ttl": 300,
        "disabled": False,
        "created_at": T0,
        "updated_at": T0 + 1.5,
        "metadata": {"owner": "team-ß", "n": 1},
    }
    return Client(**fields | kw)


def key(kid="k1", tid="acme", activates_at=T0, **kw):
    fields = {
        "tenant_id": tid,
        "kid": kid,
        "alg": "ES256",
        "public_jwk": {"kty": "EC", "crv": "P-256", "x": "f83O", "y": "x_FE", "kid": kid},
        "sealed_private": b"\x00nonce\xff" + bytes(range(256)),
        "created_at": T0 - 10,
        "activates_at": activates_at,
    }
    return StoredKey(**fields | kw)


def opaque(token_hash=b"\x01" * 32, expires_at=T0 + 600, **kw):
    fields = {
        "token_hash": token_hash,
        "tenant_id": "acme",
        "client_id": "svc",
        "subject": "user-1",
        "audience": ("https://z.example", "https://a.example"),
        "scope": "read write",
        "jti": "jti-1",
        "issued_at": T0,
        "expires_at": expires_at,
    }
    return OpaqueToken(**fields | kw)


# --- tenants -------------------------------------------------------------------------------


async def test_tenant_round_trip(store):
    assert await store.get_tenant("acme") is None
    await store.add_tenant(tenant())
    assert await store.get_tenant("acme") == tenant()


async def test_adding_a_tenant_twice_conflicts(store):
    await store.add_tenant(tenant())
    with pytest.raises(ConflictError):
        await store.add_tenant(tenant(name="other"))
    assert await store.get_tenant("acme") == tenant()


async def test_tenants_are_listed_by_id(store):
    assert await store.list_tenants() == []
    for tid in ("zeta", "acme", "mid"):
        await store.add_tenant(tenant(tid))
    assert [t.id for t in await store.list_tenants()] == ["acme", "mid", "zeta"]


# --- clients -------------------------------------------------------------------------------


async def test_client_round_trips_exactly(store):
    rich = client(
        metadata={
            "zz": [1, 2.5, None, True, {"nested": ["ü", "漢", "😀"]}],
            "aa": 2**60 + 1,
            "tiny": 1e-300,
            "empty": {},
        }
    )
    await store.add_tenant(tenant())
    await store.add_client(rich)
    got = await store.get_client("acme", "svc")
    assert got == rich
    assert type(got.grant_types) is frozenset
    assert type(got.scopes) is frozenset
    assert type(got.audiences) is tuple
    assert got.audiences == ("https://z.example", "https://a.example")  # order kept
    assert type(got.metadata) is dict
    assert list(got.metadata) == ["zz", "aa", "tiny", "empty"]
    assert type(got.secret_hash) is bytes
    assert type(got.created_at) is float


async def test_public_client_with_defaults_round_trips(store):
    public = Client(
        tenant_id="acme",
        client_id="spa",
        name="SPA",
        auth_method="none",
        secret_hash=None,
        grant_types=frozenset({"authorization_code"}),
        scopes=frozenset(),
        audiences=(),
    )
    await store.add_tenant(tenant())
    await store.add_client(public)
    got = await store.get_client("acme", "spa")
    assert got == public
    assert got.secret_hash is None
    assert got.scopes == frozenset()
    assert type(got.scopes) is frozenset
    assert got.audiences == ()
    assert type(got.audiences) is tuple


async def test_adding_a_client_twice_conflicts(store):
    await store.add_tenant(tenant())
    await store.add_client(client())
    with pytest.raises(ConflictError):
        await store.add_client(client(name="again"))
    assert (await store.get_client("acme", "svc")).name == "Billing service"


async def test_a_client_of_an_unknown_tenant_is_refused(store):
    with pytest.raises(NotFoundError):
        await store.add_client(client(tid="ghost"))
    assert await store.get_client("ghost", "svc") is None


async def test_clients_are_per_tenant_and_listed_by_client_id(store):
    await store.add_tenant(tenant("acme"))
    await store.add_tenant(tenant("other"))
    for cid in ("web", "api", "cli"):
        await store.add_client(client(cid))
    await store.add_client(client("api", tid="other", name="Other API"))
    assert [c.client_id for c in await store.list_clients("acme")] == ["api", "cli", "web"]
    assert [c.name for c in await store.list_clients("other")] == ["Other API"]
    assert await store.list_clients("nobody") == []
    assert await store.get_client("acme", "missing") is None


async def test_replace_client_overwrites_every_field(store):
    await store.add_tenant(tenant())
    await store.add_client(client())
    changed = client(
        name="Renamed",
        auth_method="private_key_jwt",
        secret_hash=None,
        grant_types=frozenset({"client_credentials"}),
        scopes=frozenset({"admin"}),
        audiences=("https://only.example",),
        token_format="jwt",
        access_token_ttl=None,
        disabled=True,
        updated_at=T0 + 99,
        metadata={"rotated": True},
    )
    await store.replace_client(changed)
    assert await store.get_client("acme", "svc") == changed
    assert await store.list_clients("acme") == [changed]


async def test_replacing_a_missing_client_is_not_found(store):
    await store.add_tenant(tenant())
    with pytest.raises(NotFoundError):
        await store.replace_client(client())
    assert await store.list_clients("acme") == []


# --- signing keys --------------------------------------------------------------------------


async def test_key_round_trips_exactly(store):
    await store.add_tenant(tenant())
    stored = key(retires_at=T0 + 100.25, removes_at=T0 + 200.5)
    await store.add_key(stored)
    [got] = await store.list_keys("acme")
    assert got == stored
    assert type(got.sealed_private) is bytes
    assert type(got.public_jwk) is dict


async def test_adding_a_key_twice_conflicts(store):
    await store.add_tenant(tenant())
    await store.add_key(key())
    with pytest.raises(ConflictError):
        await store.add_key(key(alg="EdDSA"))
    assert [k.alg for k in await store.list_keys("acme")] == ["ES256"]


async def test_a_key_of_an_unknown_tenant_is_refused(store):
    with pytest.raises(NotFoundError):
        await store.add_key(key(tid="ghost"))


async def test_keys_are_per_tenant_and_ordered_by_activation(store):
    await store.add_tenant(tenant("acme"))
    await store.add_tenant(tenant("other"))
    await store.add_key(key("later", activates_at=T0 + 50))
    await store.add_key(key("first", activates_at=T0))
    await store.add_key(key("b-tie", activates_at=T0 + 20))
    await store.add_key(key("a-tie", activates_at=T0 + 20))
    await store.add_key(key("first", tid="other"))  # kids are per tenant
    assert [k.kid for k in await store.list_keys("acme")] == ["first", "a-tie", "b-tie", "later"]
    assert [k.kid for k in await store.list_keys("other")] == ["first"]
    assert await store.list_keys("nobody") == []


async def test_key_state_follows_the_stored_schedule(store):
    await store.add_tenant(tenant())
    await store.add_key(key(activates_at=T0 + 100))
    [k] = await store.list_keys("acme")
    assert k.state(T0) is KeyState.NEXT
    assert k.published(T0)
    assert k.state(T0 + 100) is KeyState.ACTIVE
    assert k.state(T0 + 10**9) is KeyState.ACTIVE  # no retirement scheduled yet

    await store.schedule_retirement("acme", "k1", retires_at=T0 + 200, removes_at=T0 + 300)
    [k] = await store.list_keys("acme")
    assert (k.retires_at, k.removes_at) == (T0 + 200, T0 + 300)
    assert k.state(T0 + 199.999) is KeyState.ACTIVE
    assert k.state(T0 + 200) is KeyState.RETIRING
    assert k.published(T0 + 250)
    assert k.state(T0 + 300) is KeyState.RETIRED
    assert not k.published(T0 + 300)

    # Moving the schedule (an emergency rotation) is just another write.
    await store.schedule_retirement("acme", "k1", retires_at=T0 + 150, removes_at=T0 + 160)
    [k] = await store.list_keys("acme")
    assert k.state(T0 + 155) is KeyState.RETIRING
    assert k.state(T0 + 160) is KeyState.RETIRED
    assert k == key(activates_at=T0 + 100, retires_at=T0 + 150, removes_at=T0 + 160)


async def test_scheduling_a_missing_key_is_not_found(store):
    await store.add_tenant(tenant())
    await store.add_key(key())
    with pytest.raises(NotFoundError):
        await store.schedule_retirement("acme", "nope", retires_at=T0, removes_at=T0 + 1)
    with pytest.raises(NotFoundError):
        await store.schedule_retirement("other", "k1", retires_at=T0, removes_at=T0 + 1)


async def test_removal_before_retirement_is_refused(store):
    await store.add_tenant(tenant())
    await store.add_key(key())
    with pytest.raises(ValueError, match="removes_at"):
        await store.schedule_retirement("acme", "k1", retires_at=T0 + 10, removes_at=T0 + 5)
    assert (await store.list_keys("acme"))[0].retires_at is None


# --- revocations ---------------------------------------------------------------------------


async def test_revocation_is_idempotent_and_per_tenant(store):
    assert not await store.is_revoked("acme", "j1", now=T0)
    assert await store.revoke_jti("acme", "j1", expires_at=T0 + 60, now=T0) is True
    assert await store.revoke_jti("acme", "j1", expires_at=T0 + 60, now=T0 + 1) is False
    assert await store.is_revoked("acme", "j1", now=T0 + 59.9)
    assert not await store.is_revoked("acme", "j1", now=T0 + 60)  # expired: moot
    assert not await store.is_revoked("other", "j1", now=T0)
    assert await store.revoke_jti("other", "j1", expires_at=T0 + 60, now=T0) is True


async def test_revoking_again_with_a_later_expiry_extends_it(store):
    await store.revoke_jti("acme", "j1", expires_at=T0 + 60, now=T0)
    assert await store.revoke_jti("acme", "j1", expires_at=T0 + 600, now=T0 + 5) is False
    assert await store.is_revoked("acme", "j1", now=T0 + 300)
    # An earlier expiry never shortens a revocation.
    assert await store.revoke_jti("acme", "j1", expires_at=T0 + 10, now=T0 + 6) is False
    assert await store.is_revoked("acme", "j1", now=T0 + 300)
    assert await store.revoked_since("acme", T0 + 5) == [("j1", T0 + 600)]


async def test_an_expired_revocation_counts_as_absent(store):
    await store.revoke_jti("acme", "j1", expires_at=T0 + 60, now=T0)
    assert await store.revoke_jti("acme", "j1", expires_at=T0 + 200, now=T0 + 100) is True
    assert await store.is_revoked("acme", "j1", now=T0 + 150)


async def test_revoked_since_is_inclusive_ordered_and_per_tenant(store):
    await store.revoke_jti("acme", "c", expires_at=T0 + 900, now=T0 + 3)
    await store.revoke_jti("acme", "a", expires_at=T0 + 700, now=T0 + 1)
    await store.revoke_jti("acme", "b2", expires_at=T0 + 802, now=T0 + 2)
    await store.revoke_jti("acme", "b1", expires_at=T0 + 801, now=T0 + 2)
    await store.revoke_jti("other", "x", expires_at=T0 + 900, now=T0 + 2)
    assert await store.revoked_since("acme", T0) == [
        ("a", T0 + 700),
        ("b1", T0 + 801),
        ("b2", T0 + 802),
        ("c", T0 + 900),
    ]
    assert await store.revoked_since("acme", T0 + 2) == [
        ("b1", T0 + 801),
        ("b2", T0 + 802),
        ("c", T0 + 900),
    ]
    assert await store.revoked_since("acme", T0 + 3.000001) == []
    assert await store.revoked_since("other", 0) == [("x", T0 + 900)]


async def test_purge_drops_only_expired_revocations(store):
    await store.revoke_jti("acme", "old", expires_at=T0 + 10, now=T0)
    await store.revoke_jti("acme", "edge", expires_at=T0 + 20, now=T0)
    await store.revoke_jti("other", "new", expires_at=T0 + 30, now=T0)
    assert await store.purge_revocations(T0 + 5) == 0
    assert await store.purge_revocations(T0 + 20) == 2
    assert await store.purge_revocations(T0 + 20) == 0
    assert await store.revoked_since("acme", 0) == []
    assert await store.revoked_since("other", 0) == [("new", T0 + 30)]
    assert await store.is_revoked("other", "new", now=T0 + 25)


# --- opaque tokens -------------------------------------------------------------------------


async def test_opaque_token_round_trips_exactly(store):
    token = opaque(token_hash=bytes(range(200, 232)))
    assert await store.get_opaque(token.token_hash) is None
    await store.add_opaque(token)
    got = await store.get_opaque(token.token_hash)
    assert got == token
    assert type(got.audience) is tuple
    assert type(got.token_hash) is bytes
    assert await store.get_opaque(b"\x02" * 32) is None


async def test_find_live_opaque_returns_only_unexpired_unrevoked_tokens(store):
    """Introspection's read: one query that also applies expiry and the jti denylist."""
    await store.add_tenant(Tenant("acme", "Acme", T0))
    token = opaque(token_hash=bytes(range(100, 132)), expires_at=T0 + 600)
    await store.add_opaque(token)
    assert await store.find_live_opaque(token.token_hash, now=T0) == token
    assert await store.find_live_opaque(b"\x03" * 32, now=T0) is None
    assert await store.find_live_opaque(token.token_hash, now=T0 + 600) is None  # expired
    await store.revoke_jti("acme", token.jti, expires_at=T0 + 300, now=T0)
    assert await store.find_live_opaque(token.token_hash, now=T0 + 1) is None  # revoked
    # A revocation entry past its own expiry no longer counts (same rule as is_revoked).
    assert await store.find_live_opaque(token.token_hash, now=T0 + 301) == token
    # Another tenant's denylist entry for the same jti does not apply.
    other = opaque(token_hash=bytes(range(140, 172)), jti="jti-2")
    await store.add_opaque(other)
    await store.add_tenant(Tenant("beta", "Beta", T0))
    await store.revoke_jti("beta", "jti-2", expires_at=T0 + 900, now=T0)
    assert await store.find_live_opaque(other.token_hash, now=T0) == other


async def test_adding_an_opaque_token_twice_conflicts(store):
    await store.add_opaque(opaque())
    with pytest.raises(ConflictError):
        await store.add_opaque(opaque(jti="jti-2"))
    assert (await store.get_opaque(b"\x01" * 32)).jti == "jti-1"


async def test_delete_opaque_reports_whether_it_deleted(store):
    await store.add_opaque(opaque())
    assert await store.delete_opaque(b"\x01" * 32) is True
    assert await store.get_opaque(b"\x01" * 32) is None
    assert await store.delete_opaque(b"\x01" * 32) is False


async def test_purge_drops_only_expired_opaque_tokens(store):
    await store.add_opaque(opaque(b"\x01" * 32, expires_at=T0 + 10))
    await store.add_opaque(opaque(b"\x02" * 32, expires_at=T0 + 20))
    await store.add_opaque(opaque(b"\x03" * 32, expires_at=T0 + 30))
    assert await store.purge_opaque(T0) == 0
    assert await store.get_opaque(b"\x01" * 32) is not None  # expired rows stay until purged
    assert await store.purge_opaque(T0 + 20) == 2
    assert await store.get_opaque(b"\x02" * 32) is None
    assert await store.get_opaque(b"\x03" * 32) is not None


# --- leases --------------------------------------------------------------------------------


async def test_a_lease_is_exclusive_renewable_and_taken_over_after_expiry(store):
    assert await store.try_lease("rotate", "a", now=T0, ttl=30) is True
    assert await store.try_lease("rotate", "b", now=T0 + 1, ttl=30) is False
    assert await store.try_lease("rotate", "a", now=T0 + 20, ttl=30) is True  # renewal
    # Past the first expiry but within the renewed one: still a's.
    assert await store.try_lease("rotate", "b", now=T0 + 40, ttl=30) is False
    assert await store.try_lease("rotate", "b", now=T0 + 50, ttl=30) is True  # takeover
    assert await store.try_lease("rotate", "a", now=T0 + 51, ttl=30) is False


async def test_leases_are_independent_by_name(store):
    assert await store.try_lease("rotate", "a", now=T0, ttl=30)
    assert await store.try_lease("purge", "b", now=T0, ttl=30)


async def test_release_frees_the_lease_only_for_its_holder(store):
    await store.try_lease("rotate", "a", now=T0, ttl=30)
    await store.release_lease("rotate", "b")  # not b's: no effect
    assert await store.try_lease("rotate", "b", now=T0 + 1, ttl=30) is False
    await store.release_lease("rotate", "a")
    assert await store.try_lease("rotate", "b", now=T0 + 2, ttl=30) is True
    await store.release_lease("never-taken", "a")


async def test_a_lease_needs_a_positive_ttl(store):
    with pytest.raises(ValueError, match="ttl"):
        await store.try_lease("rotate", "a", now=T0, ttl=0)


async def test_concurrent_lease_attempts_have_exactly_one_winner(store, database_url):
    """20 holders race from two stores (two pools, as two processes would): one wins."""
    second = await open_store(database_url)
    try:
        stores = [store, second]
        results = await asyncio.gather(
            *(stores[i % 2].try_lease("rotate", f"holder-{i}", now=T0, ttl=30) for i in range(20))
        )
        assert results.count(True) == 1
        winner = f"holder-{results.index(True)}"
        assert await second.try_lease("rotate", winner, now=T0 + 1, ttl=30) is True
        assert await store.try_lease("rotate", "holder-x", now=T0 + 1, ttl=30) is False
    finally:
        await second.close()


# --- schema --------------------------------------------------------------------------------


async def test_an_unmigrated_database_is_refused_with_the_fix(database_url):
    with pytest.raises(SchemaOutdated) as caught:
        await open_store(database_url)
    assert "revision none" in str(caught.value)
    assert f"code needs {HEAD_REVISION}" in str(caught.value)
    assert "run `tessera db upgrade`" in str(caught.value)
    assert caught.value.code == "schema_outdated"


async def test_upgrade_is_idempotent(database_url):
    assert await current_revision(database_url) is None
    assert await upgrade(database_url) == HEAD_REVISION
    assert await upgrade(database_url) == HEAD_REVISION
    assert await current_revision(database_url) == HEAD_REVISION
    store = await open_store(database_url)
    try:
        await store.add_tenant(tenant())
        assert await upgrade(database_url) == HEAD_REVISION
        assert await store.get_tenant("acme") == tenant()  # data untouched
    finally:
        await store.close()


async def test_the_schema_check_can_be_skipped(database_url):
    store = await open_store(database_url, check_schema=False)
    await store.close()


async def test_a_database_newer_than_the_code_is_refused(store):
    async with store.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StorageError, match="newer than this code") as caught:
        await store.check_schema()
    assert not isinstance(caught.value, SchemaOutdated)


async def test_the_migration_creates_exactly_tables_py(store):
    def diff(connection):
        return compare_metadata(MigrationContext.configure(connection), metadata)

    async with store.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_records_are_unchanged_by_storage(store):
    """Records are frozen values: what was stored is not aliased to what is read back."""
    original = client(metadata={"list": [1]})
    await store.add_tenant(tenant())
    await store.add_client(original)
    got = await store.get_client("acme", "svc")
    got.metadata["list"].append(2)
    assert original.metadata == {"list": [1]}
    assert dataclasses.replace(got, metadata={"list": [1]}) == original
