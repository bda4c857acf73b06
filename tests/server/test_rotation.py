"""Key rotation through the running app (SECURITY.md §5), on SQLite and PostgreSQL.

THE property: a resource server that caches the JWKS for its ``Cache-Control: max-age`` and
never refetches early never fails a token across rotations. Time moves by the fake clock;
background work is one call to :func:`tessera.server.app.maintain` per step (what the
maintenance loop does every ``key_refresh_interval`` seconds).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
import sqlalchemy as sa
from harness import API, PUBLIC_URL, T0, Harness, make_settings

from tessera.config import load_settings
from tessera.errors import ConfigurationError, NotFoundError, TesseraError
from tessera.jose import SigningKey, encode_jwt, peek_unverified_header
from tessera.keys.schedule import MAX_ACCESS_TOKEN_TTL
from tessera.server.app import build_app, maintain, make_context, rotation_policy
from tessera.storage.migrate import upgrade
from tessera.storage.records import KeyState, Tenant
from tessera.storage.sql import open_store
from tessera.storage.tables import signing_keys
from tessera.verify import Verifier

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k"}

# A fast schedule: rotate every 30 min; publish 330 s ahead (= max-age 300 + skew 30, the
# least the settings allow); tokens live 300 s (M2M), keys outlive them by 600 + 30 s.
ROTATION = 1800.0
MAX_AGE = 300
REFRESH = 30  # key_refresh_interval: how stale a process's view of the keys may be
LEAD = MAX_AGE + 30 + REFRESH  # the smallest lead the settings accept
SKEW = 30
TTL = 300


def max_age_of(response: httpx.Response) -> int:
    match = re.search(r"max-age=(\d+)", response.headers["cache-control"])
    assert match, response.headers["cache-control"]
    return int(match.group(1))


async def jwks_kids(server: Harness) -> set[str]:
    response = await server.http.get("/t/default/jwks.json")
    assert response.status_code == 200
    return {k["kid"] for k in response.json()["keys"]}


async def stored(server: Harness, kid: str):
    (key,) = [k for k in await server.ctx.store.list_keys("default") if k.kid == kid]
    return key


async def sign_with(server: Harness, kid: str) -> str:
    """A well-formed token signed by the stored key ``kid`` (what its thief could mint)."""
    key = await stored(server, kid)
    private = server.ctx.keys._kek.open(key.sealed_private, tenant_id="default", kid=kid)
    now = int(server.clock.now)
    claims = {
        "iss": server.issuer,
        "sub": "client:svc",
        "aud": API,
        "exp": now + 300,
        "iat": now,
        "nbf": now,
        "jti": f"forged-{kid[:8]}",
        "client_id": "svc",
        "scope": "data:read",
        "tenant_id": "default",
    }
    return server.remember(encode_jwt(claims, SigningKey.from_jwk(json.loads(private))))


# -------------------------------------------------------------- the simulated verifier


class CachingResourceServer:
    """Fetches the JWKS from one instance and trusts it for exactly max-age seconds."""

    def __init__(self, instance: Harness, first_fetch: float) -> None:
        self.instance = instance
        self.first_fetch = first_fetch
        self.expires = float("-inf")
        self.verifier: Verifier | None = None
        self.fetches = 0

    async def current(self, now: float) -> Verifier | None:
        if now < self.first_fetch:
            return None
        if self.verifier is None or now >= self.expires:
            response = await self.instance.http.get("/t/default/jwks.json")
            assert response.status_code == 200
            self.expires = now + max_age_of(response)
            self.verifier = Verifier(
                issuer=self.instance.issuer,
                audience=API,
                algorithms=["ES256"],
                keys=response.json(),
                leeway=SKEW,
                cache_size=256,
            )
            self.fetches += 1
        return self.verifier


@dataclass
class Issued:
    token: str
    kid: str
    issued_at: float
    exp: float


@dataclass
class Report:
    failures: list[str] = field(default_factory=list)
    issued: list[Issued] = field(default_factory=list)
    first_published: dict[str, float] = field(default_factory=dict)
    removed: dict[str, float] = field(default_factory=dict)
    first_signed: dict[str, float] = field(default_factory=dict)
    verifications: int = 0


async def simulate(
    instances: list[Harness], *, duration: float, step: float, token_every: float
) -> Report:
    """Advance the shared clock by ``step`` until ``duration``; each step every instance
    runs its background work, one instance (round robin) issues a token every
    ``token_every`` seconds, and resource servers of every phase verify every live token."""
    clock = instances[0].clock
    report = Report()
    offsets = [i * step for i in range(int(MAX_AGE // step))]
    resource_servers = [
        CachingResourceServer(inst, clock.now + off) for inst in instances for off in offsets
    ]
    start = clock.now
    tick = 0
    while clock.now - start <= duration:
        now = clock.now
        for inst in instances:
            await maintain(inst.ctx)
        kids = await jwks_kids(instances[0])
        for kid in kids:
            report.first_published.setdefault(kid, now)
        for kid in report.first_published:
            if kid not in kids:
                report.removed.setdefault(kid, now)
        if (now - start) % token_every == 0:
            issuer = instances[tick % len(instances)]
            tick += 1
            token = await issuer.access_token("svc", scope="data:read")
            kid = peek_unverified_header(token)["kid"]
            report.first_signed.setdefault(kid, now)
            report.issued.append(Issued(token, kid, now, now + TTL))
        live = [t for t in report.issued if now < t.exp + SKEW]
        for rs in resource_servers:
            verifier = await rs.current(now)
            if verifier is None:
                continue
            for t in live:
                report.verifications += 1
                try:
                    verifier.verify(t.token, now=now)
                except TesseraError as exc:
                    report.failures.append(
                        f"t+{now - start:.0f}s: token of {t.kid} issued t+{t.issued_at - start:.0f}"
                        f" refused ({exc.code}) by a verifier that fetched from instance "
                        f"{instances.index(rs.instance)} at t+{rs.expires - MAX_AGE - start:.0f}"
                    )
        clock.advance(step)
    return report


def fast_settings(tmp_path, **overrides):
    """Built through load_settings: a configuration it refuses is not one to simulate."""
    values = make_settings(tmp_path).model_dump(include={"home", "public_url", "kek", "pepper"})
    values.update(
        key_rotation_days=ROTATION / 86400,
        key_publish_lead=LEAD,
        jwks_max_age=MAX_AGE,
        clock_skew=SKEW,
        access_token_ttl_m2m=TTL,
        key_refresh_interval=REFRESH,
    )
    values.update(overrides)
    return load_settings(**values)


async def start_instances(store, settings, clock, secret_registry, count: int):
    """``count`` app instances ("processes") sharing one store: each its own KeyManager."""
    await store.add_tenant(Tenant("default", "Default", clock.now))
    contexts = [
        make_context(settings, store, clock=clock, client_cache_ttl=0.0) for _ in range(count)
    ]
    await contexts[0].keys.ensure("default", clock.now)
    clients = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_app(ctx, background=False)),
            base_url=PUBLIC_URL,
        )
        for ctx in contexts
    ]
    instances = [
        Harness(ctx=ctx, http=http, clock=clock, remember=secret_registry)
        for ctx, http in zip(contexts, clients, strict=True)
    ]
    await instances[0].add_client("svc")
    for inst in instances[1:]:
        inst.secrets.update(instances[0].secrets)
    return instances, clients


@pytest.fixture
async def fast_server(store, tmp_path, clock, secret_registry) -> AsyncIterator[Harness]:
    """The app with the fast schedule above, one instance."""
    settings = fast_settings(tmp_path)
    instances, clients = await start_instances(store, settings, clock, secret_registry, 1)
    try:
        yield instances[0]
    finally:
        for http in clients:
            await http.aclose()


async def test_caching_verifier_never_fails_across_two_rotations(fast_server):
    server = fast_server
    first = await server.http.get("/t/default/jwks.json")
    # The JWKS may be cached no longer than a next key is published ahead of use.
    assert max_age_of(first) + SKEW <= LEAD
    duration = 2 * ROTATION + 600 + SKEW + 2 * MAX_AGE
    report = await simulate([server], duration=duration, step=30, token_every=60)

    assert report.failures == []
    assert report.verifications > 1000

    # The kid changes: the first key, and one successor per rotation.
    signing_order = list(dict.fromkeys(t.kid for t in report.issued))
    assert len(signing_order) >= 3, signing_order

    # Every successor was in the JWKS at least the publish lead before its first token...
    for kid in signing_order[1:]:
        assert report.first_signed[kid] - report.first_published[kid] >= LEAD - 30, kid
        key = await stored(server, kid)
        assert key.activates_at - key.created_at >= LEAD
        assert report.first_signed[kid] >= key.activates_at

    # ...and every replaced key left the JWKS only after every token it signed expired.
    removed = [kid for kid in signing_order if kid in report.removed]
    assert len(removed) >= 2, (signing_order, report.removed)
    for kid in removed:
        last_exp = max(t.exp for t in report.issued if t.kid == kid)
        assert report.removed[kid] >= last_exp + SKEW, kid
        key = await stored(server, kid)
        assert key.state(server.clock.now) is KeyState.RETIRED


async def test_two_instances_with_a_slow_key_refresh_never_fail_a_caching_verifier(
    store, tmp_path, clock, secret_registry
):
    """Two processes on one database; each reloads keys every key_refresh_interval (120 s).

    The next key is created by one of them; the other keeps serving its older snapshot (a
    JWKS without the next key) for up to the refresh interval, and a verifier may cache that
    for max-age. If the settings accept this configuration, nothing may fail; refusing the
    configuration at start (e.g. a lead of at least max-age + skew + refresh interval) is the
    other right answer.
    """
    try:
        settings = fast_settings(tmp_path, key_refresh_interval=120)
    except ConfigurationError:
        return  # refused at start: the unsafe configuration cannot be run
    instances, clients = await start_instances(store, settings, clock, secret_registry, 2)
    try:
        # The worst phase: instance 1 reloads its key snapshot (every 120 s from the first
        # request) one step before instance 0 creates the next key at due - lead.
        clock.now = T0 + ROTATION - LEAD - 10 - 3 * 120
        duration = LEAD + 3 * MAX_AGE
        report = await simulate(instances, duration=duration, step=10, token_every=30)
    finally:
        for http in clients:
            await http.aclose()
    assert len({t.kid for t in report.issued}) >= 2
    assert report.failures == [], f"{len(report.failures)} failures, first: {report.failures[:3]}"


@pytest.mark.parametrize("refresh", [REFRESH, 120])
async def test_two_instances_with_accepted_settings_never_fail_a_caching_verifier(
    store, tmp_path, clock, secret_registry, refresh
):
    """The same worst phase with settings the server accepts: the publish lead covers
    max-age + skew + the refresh interval, so a verifier caching either instance's JWKS
    always knows the next key before it signs."""
    lead = MAX_AGE + SKEW + refresh
    settings = fast_settings(tmp_path, key_refresh_interval=refresh, key_publish_lead=lead)
    instances, clients = await start_instances(store, settings, clock, secret_registry, 2)
    try:
        clock.now = T0 + ROTATION - lead - 10 - 3 * refresh
        report = await simulate(instances, duration=lead + 3 * MAX_AGE, step=10, token_every=30)
    finally:
        for http in clients:
            await http.aclose()
    assert len({t.kid for t in report.issued}) >= 2
    assert report.failures == [], f"{len(report.failures)} failures, first: {report.failures[:3]}"


# ---------------------------------------------------------------------- JWKS shape


async def test_published_jwks_is_public_and_well_formed(server):
    await server.ctx.keys.rotate("default", server.clock.now)  # a next key too
    response = await server.http.get("/t/default/jwks.json")
    assert response.headers["content-type"].startswith("application/jwk-set+json")
    keys = response.json()["keys"]
    assert len(keys) == 2
    kids = [k["kid"] for k in keys]
    assert len(set(kids)) == len(kids)
    for jwk in keys:
        assert not PRIVATE_MEMBERS & jwk.keys()
        assert jwk["use"] == "sig"
        assert jwk["alg"] == "ES256"
    assert max_age_of(response) + server.ctx.settings.clock_skew <= (
        server.ctx.settings.key_publish_lead
    )


# ------------------------------------------------------------------ manual rotation


async def test_planned_rotate_publishes_first_then_switches_then_drops(server):
    await server.add_client("svc")
    await server.add_client("api", grants=frozenset(), introspect_for=(API,))
    policy = rotation_policy(server.ctx.settings)
    old_token = await server.access_token("svc")
    old = peek_unverified_header(old_token)["kid"]

    new = await server.ctx.keys.rotate("default", server.clock.now)
    assert new != old
    assert await jwks_kids(server) == {old, new}
    assert peek_unverified_header(await server.access_token("svc"))["kid"] == old

    server.clock.advance(policy.publish_lead - 1)
    assert peek_unverified_header(await server.access_token("svc"))["kid"] == old
    server.clock.advance(1)
    last_old_exp = server.clock.now - 1 + server.ctx.settings.access_token_ttl_m2m
    assert peek_unverified_header(await server.access_token("svc"))["kid"] == new
    assert await jwks_kids(server) == {old, new}

    removes_at = (await stored(server, old)).removes_at
    assert removes_at >= last_old_exp + server.ctx.settings.clock_skew
    server.clock.now = removes_at - 1
    assert await jwks_kids(server) == {old, new}
    server.clock.now = removes_at
    assert await jwks_kids(server) == {new}


async def test_compromise_rotate_immediately_drops_the_old_key_at_once(server):
    await server.add_client("svc")
    await server.add_client("api", grants=frozenset(), introspect_for=(API,))
    old_token = await server.access_token("svc")
    old = peek_unverified_header(old_token)["kid"]
    assert (await server.introspect("api", old_token))["active"] is True

    new = await server.ctx.keys.rotate("default", server.clock.now, immediately=True)

    assert await jwks_kids(server) == {new}
    assert await server.introspect("api", old_token) == {"active": False}
    new_token = await server.access_token("svc")
    assert peek_unverified_header(new_token)["kid"] == new
    jwks = (await server.http.get("/t/default/jwks.json")).json()
    verifier = Verifier(issuer=server.issuer, audience=API, algorithms=["ES256"], keys=jwks)
    verifier.verify(new_token, now=server.clock.now)
    with pytest.raises(TesseraError) as caught:
        verifier.verify(old_token, now=server.clock.now)
    assert caught.value.code == "unknown_kid"
    assert (await server.introspect("api", new_token))["active"] is True
    assert (await stored(server, old)).state(server.clock.now) is KeyState.RETIRED


async def test_compromise_rotate_also_drops_a_pending_next_key(server):
    """A compromise (of the database and KEK, say) exposes the waiting next key too: after
    ``rotate(immediately=True)`` it must neither stay in the JWKS nor make its tokens
    introspect active, rather than lingering until its scheduled activation."""
    await server.add_client("api", grants=frozenset(), introspect_for=(API,))
    pending = await server.ctx.keys.rotate("default", server.clock.now)
    forged = await sign_with(server, pending)
    assert (await server.introspect("api", forged))["active"] is True  # published, trusted

    new = await server.ctx.keys.rotate("default", server.clock.now, immediately=True)

    assert pending != new
    assert await jwks_kids(server) == {new}
    assert await server.introspect("api", forged) == {"active": False}
    assert (await stored(server, pending)).state(server.clock.now) is KeyState.RETIRED


async def test_retire_only_signer_creates_a_successor(server):
    await server.add_client("svc")
    await server.add_client("api", grants=frozenset(), introspect_for=(API,))
    old_token = await server.access_token("svc")
    old = peek_unverified_header(old_token)["kid"]

    await server.ctx.keys.retire("default", old, server.clock.now)

    new_token = await server.access_token("svc")
    new = peek_unverified_header(new_token)["kid"]
    assert new != old
    assert await jwks_kids(server) == {old, new}  # the old one until its tokens expired
    assert (await server.introspect("api", old_token))["active"] is True
    assert (await stored(server, old)).state(server.clock.now) is KeyState.RETIRING
    states = {k.kid: k.state(server.clock.now) for k in await server.ctx.store.list_keys("default")}
    assert states == {old: KeyState.RETIRING, new: KeyState.ACTIVE}

    # Retention covers the longest token any client may hold (15 min), not only the defaults.
    server.clock.advance(MAX_ACCESS_TOKEN_TTL + server.ctx.settings.clock_skew)
    assert await jwks_kids(server) == {new}


async def test_retire_with_remove_now_drops_it_from_the_jwks(server):
    await server.add_client("svc")
    old = peek_unverified_header(await server.access_token("svc"))["kid"]
    await server.ctx.keys.retire("default", old, server.clock.now, remove_now=True)
    kids = await jwks_kids(server)
    assert old not in kids
    assert len(kids) == 1


async def test_retire_unknown_kid_refused(server):
    with pytest.raises(NotFoundError):
        await server.ctx.keys.retire("default", "no-such-kid", server.clock.now)
    assert len(await server.ctx.store.list_keys("default")) == 1


async def test_retire_of_another_tenants_kid_refused(server):
    await server.ctx.store.add_tenant(Tenant("other", "Other", server.clock.now))
    await server.ctx.keys.ensure("other", server.clock.now)
    (other,) = await server.ctx.store.list_keys("other")
    with pytest.raises(NotFoundError):
        await server.ctx.keys.retire("default", other.kid, server.clock.now)


async def test_maintain_rotates_on_schedule(server):
    policy = rotation_policy(server.ctx.settings)
    (first,) = await server.ctx.store.list_keys("default")
    server.clock.now = first.activates_at + policy.rotation_period - policy.publish_lead - 1
    await maintain(server.ctx)
    assert len(await server.ctx.store.list_keys("default")) == 1
    server.clock.advance(1)
    await maintain(server.ctx)
    keys = await server.ctx.store.list_keys("default")
    assert len(keys) == 2
    nxt = next(k for k in keys if k.kid != first.kid)
    assert nxt.state(server.clock.now) is KeyState.NEXT
    assert nxt.activates_at == first.activates_at + policy.rotation_period
    await maintain(server.ctx)  # a next key exists: nothing more
    assert len(await server.ctx.store.list_keys("default")) == 2


# ----------------------------------------------------------- several processes, one DB


async def _two_managers(database_url, tmp_path):
    await upgrade(database_url)
    stores = [await open_store(database_url), await open_store(database_url)]
    settings = make_settings(tmp_path)
    managers = [make_context(settings, s).keys for s in stores]
    assert managers[0].holder != managers[1].holder
    return stores, managers


async def test_two_processes_create_exactly_one_first_key(database_url, tmp_path):
    stores, managers = await _two_managers(database_url, tmp_path)
    try:
        await stores[0].add_tenant(Tenant("default", "Default", T0))
        results = await asyncio.gather(*(m.ensure("default", T0) for m in managers))
        assert sum(len(r) for r in results) == 1
        assert len(await stores[1].list_keys("default")) == 1
    finally:
        for s in stores:
            await s.close()


async def test_two_processes_rotate_exactly_once(database_url, tmp_path):
    stores, managers = await _two_managers(database_url, tmp_path)
    try:
        await stores[0].add_tenant(Tenant("default", "Default", T0))
        await managers[0].ensure("default", T0)
        policy = managers[0].policy
        due = T0 + policy.rotation_period - policy.publish_lead
        for attempt in range(5):
            now = due + attempt
            await asyncio.gather(*(m.ensure("default", now) for m in managers))
        keys = await stores[0].list_keys("default")
        assert len(keys) == 2
        assert [k.state(due) for k in keys] == [KeyState.ACTIVE, KeyState.NEXT]
        # Both processes serve the same snapshot once they reload.
        snaps = [await m.keys_for("default", due + 100) for m in managers]
        assert snaps[0].jwks_json(due + 100) == snaps[1].jwks_json(due + 100)
    finally:
        for s in stores:
            await s.close()


async def test_a_process_that_holds_the_lease_blocks_the_other(database_url, tmp_path):
    stores, managers = await _two_managers(database_url, tmp_path)
    try:
        await stores[0].add_tenant(Tenant("default", "Default", T0))
        assert await stores[0].try_lease("keys:default", managers[0].holder, now=T0, ttl=60)
        assert await managers[1].ensure("default", T0 + 1) == []
        assert await stores[1].list_keys("default") == []
        # The lease expires: the other process takes over.
        assert len(await managers[1].ensure("default", T0 + 61)) == 1
    finally:
        for s in stores:
            await s.close()


# ----------------------------------------------------------------- sealed at rest


async def test_private_keys_are_sealed_in_the_database(server):
    await server.ctx.keys.rotate("default", server.clock.now)
    engine = server.ctx.store.engine  # type: ignore[attr-defined]
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(signing_keys))).mappings().all()
    assert len(rows) == 2
    kek = server.ctx.keys._kek
    for row in rows:
        sealed = bytes(row["sealed_private"])
        private = json.loads(kek.open(sealed, tenant_id=row["tenant_id"], kid=row["kid"]))
        d = private["d"]
        assert d.encode() not in sealed
        dump = json.dumps({k: v for k, v in row.items() if k != "sealed_private"}, default=str)
        assert d not in dump
        public = row["public_jwk"] if isinstance(row["public_jwk"], dict) else {}
        assert not PRIVATE_MEMBERS & public.keys()
