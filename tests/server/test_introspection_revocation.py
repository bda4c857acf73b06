"""Introspection (RFC 7662) and revocation (RFC 7009) through HTTP, on both backends.

An inactive answer is exactly ``{"active":false}``, byte for byte the same whatever the
reason, so introspection is no oracle (§2.2, §4). Revocation answers 200 for anything it does
not know (§2.2) but refuses to revoke another client's token (§2.1).
"""

from __future__ import annotations

import socket
import uuid
from dataclasses import replace

from _oauth import assert_all, assert_oauth_error, basic
from harness import API, T0

from tessera.events.bus import RevocationEvent
from tessera.events.redis_bus import RedisEventBus
from tessera.jose.jwk import SigningKey
from tessera.jose.jwt import encode_jwt
from tessera.jose.unverified import peek_unverified_claims
from tessera.server.issuance import opaque_hash
from tessera.storage.records import Tenant

REPORTS = "https://reports.example.test"
INACTIVE = b'{"active":false}'
SKEW = 30


async def setup_clients(server):
    await server.add_client("svc")
    await server.add_client("opq", token_format="opaque")
    await server.add_client("rs", grants=frozenset(), introspect_for=(API,))


async def introspect_raw(server, caller: str, token: str, tenant: str = "default"):
    return await server.http.post(
        f"/t/{tenant}/introspect", data={"token": token}, auth=(caller, server.secrets[caller])
    )


async def add_other_tenant(server):
    await server.ctx.store.add_tenant(Tenant("other", "Other", server.clock.now))
    await server.ctx.keys.ensure("other", server.clock.now)


async def signer(server):
    return (await server.ctx.keys.keys_for("default", server.clock.now)).signer(server.clock.now)


def fresh_claims(token: str, **changes) -> dict:
    return {**peek_unverified_claims(token), "jti": uuid.uuid4().hex, **changes}


# --------------------------------------------------------------------------- introspection


async def test_introspection_requires_an_authenticated_caller(server):
    await setup_clients(server)
    token = await server.access_token("svc")
    url = "/t/default/introspect"
    results = [
        ("anonymous", await server.http.post(url, data={"token": token})),
        ("wrong secret", await server.http.post(url, data={"token": token}, auth=("rs", "x"))),
        ("token as secret", await server.http.post(url, data={"token": token}, auth=("rs", token))),
    ]
    assert_all(results, 401, "invalid_client")
    missing = await server.http.post(url, data={}, auth=("rs", server.secrets["rs"]))
    assert_oauth_error(missing, 400, "invalid_request")


async def test_active_jwt(server):
    await setup_clients(server)
    token = await server.access_token("svc", scope="data:read")
    response = await introspect_raw(server, "rs", token)
    assert response.headers["cache-control"] == "no-store"
    claims = peek_unverified_claims(token)
    assert response.json() == {
        "active": True,
        "scope": "data:read",
        "client_id": "svc",
        "sub": "client:svc",
        "aud": API,
        "iss": server.issuer,
        "exp": int(T0) + 300,
        "iat": int(T0),
        "nbf": int(T0),
        "jti": claims["jti"],
        "token_type": "Bearer",
        "tenant_id": "default",
    }


async def test_active_opaque(server):
    await setup_clients(server)
    token = await server.access_token("opq")
    body = await server.introspect("rs", token)
    record = await server.ctx.store.get_opaque(opaque_hash(token))
    assert body == {
        "active": True,
        "scope": "data:read data:write",
        "client_id": "opq",
        "sub": "client:opq",
        "aud": API,
        "iss": server.issuer,
        "exp": int(T0) + 300,
        "iat": int(T0),
        "jti": record.jti,
        "token_type": "Bearer",
        "tenant_id": "default",
    }


async def test_every_inactive_answer_is_the_same_bytes(server):
    """§2.2: unknown, expired, revoked, foreign, forged or forbidden → ``{"active":false}``."""
    await setup_clients(server)
    await server.add_client("reports", audiences=(REPORTS,))
    await server.add_client("plain", grants=frozenset())
    await server.add_client("rs2", grants=frozenset(), introspect_for=(REPORTS,))
    await add_other_tenant(server)
    await server.add_client("svc-o", tenant="other")
    await server.add_client("opq-o", tenant="other", token_format="opaque")

    expired = {"jwt": await server.access_token("svc"), "opaque": await server.access_token("opq")}
    server.clock.advance(300 + SKEW + 1)
    valid = await server.access_token("svc")
    revoked_jwt, revoked_opq = await server.access_token("svc"), await server.access_token("opq")
    assert (await server.revoke("svc", revoked_jwt)).status_code == 200
    assert (await server.revoke("opq", revoked_opq)).status_code == 200
    other = {}
    for client_id in ("svc", "opq"):
        response = await server.token(f"{client_id}-o", tenant="other")
        other[client_id] = response.json()["access_token"]

    real = await signer(server)
    forger = SigningKey.generate("ES256", kid=real.kid)
    inactive = {
        "unknown": "not-a-token",
        "unknown opaque": "tat_" + "A" * 43,
        "garbage": "\x00\x01\xff\ufffd" * 20,
        "huge": "eyJ" + "A" * 10_000,  # over the 8 KiB token cap, under the body cap
        "jwt shape": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "expired jwt": expired["jwt"],
        "expired opaque": expired["opaque"],
        "revoked jwt": revoked_jwt,
        "revoked opaque": revoked_opq,
        "other tenant jwt": other["svc"],
        "other tenant opaque": other["opq"],
        "forged": encode_jwt(fresh_claims(valid), forger),
        "id token typ": encode_jwt(fresh_claims(valid), real, typ="JWT"),
        "no typ": encode_jwt(fresh_claims(valid), real, typ=None),
        "not yet valid": encode_jwt(fresh_claims(valid, nbf=int(server.clock.now) + 3600), real),
        "other issuer": encode_jwt(fresh_claims(valid, iss=server.issuer + "/"), real),
        "tampered": valid[:-4] + ("AAAA" if not valid.endswith("AAAA") else "BBBB"),
    }
    answers = {name: await introspect_raw(server, "rs", token) for name, token in inactive.items()}
    # The caller does not serve the token's audience, or serves no audience at all.
    reports = await server.access_token("reports")
    answers["audience not served"] = await introspect_raw(server, "rs", reports)
    answers["caller serves nothing"] = await introspect_raw(server, "plain", valid)
    answers["caller serves another api"] = await introspect_raw(server, "rs2", valid)

    first = answers["unknown"]
    wrong = {
        name: (r.status_code, r.content)
        for name, r in answers.items()
        if r.status_code != 200 or r.content != INACTIVE or r.headers != first.headers
    }
    assert not wrong, wrong
    assert first.headers["cache-control"] == "no-store"
    assert first.headers["content-type"] == "application/json"
    # Controls: the same callers do see active tokens they serve.
    assert (await server.introspect("rs", valid))["active"] is True
    assert (await server.introspect("rs2", reports))["active"] is True


async def test_token_is_inactive_once_past_exp(server):
    """§2.2: active means "before its expiration time"; the issuer's own clock needs no skew."""
    await setup_clients(server)
    jwt, opaque = await server.access_token("svc"), await server.access_token("opq")
    server.clock.advance(300 + 1)
    results = {
        "jwt": (await server.introspect("rs", jwt)),
        "opaque": (await server.introspect("rs", opaque)),
    }
    assert results == {"jwt": {"active": False}, "opaque": {"active": False}}


# ------------------------------------------------------------------------------ revocation


async def test_revoke_jwt(server):
    await setup_clients(server)
    token = await server.access_token("svc")
    jti, exp = peek_unverified_claims(token)["jti"], peek_unverified_claims(token)["exp"]
    events: list[RevocationEvent] = []
    unsubscribe = server.ctx.bus.subscribe(events.append)
    try:
        response = await server.revoke("svc", token)
    finally:
        unsubscribe()
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert events == [RevocationEvent("jti", "default", jti, exp + SKEW, issued_at=T0)]
    assert events[0].expires_at >= exp
    assert await server.introspect("rs", token) == {"active": False}

    store = server.ctx.store
    assert await store.is_revoked("default", jti, now=exp + SKEW - 1)
    assert await store.purge_revocations(exp + SKEW - 1) == 0
    for offset in (-1, -0.5, 0, 1):  # never active again around the end of the denial
        server.clock.now = exp + SKEW + offset
        assert await server.introspect("rs", token) == {"active": False}, offset
    assert await store.purge_revocations(exp + SKEW + 1) == 1
    assert not await store.is_revoked("default", jti, now=exp + SKEW + 1)


async def test_revoke_opaque_deletes_the_record(server):
    await setup_clients(server)
    token = await server.access_token("opq")
    record = await server.ctx.store.get_opaque(opaque_hash(token))
    events: list[RevocationEvent] = []
    server.ctx.bus.subscribe(events.append)
    assert (await server.revoke("opq", token)).status_code == 200
    assert await server.ctx.store.get_opaque(opaque_hash(token)) is None
    assert [(e.kind, e.tenant_id, e.value) for e in events] == [("jti", "default", record.jti)]
    assert events[0].expires_at >= record.expires_at
    assert await server.introspect("rs", token) == {"active": False}


async def test_revoking_what_is_not_ours_is_200_and_changes_nothing(server):
    """§2.2: invalid tokens do not cause an error response."""
    await setup_clients(server)
    await add_other_tenant(server)
    mine = await server.access_token("svc")
    mine_secret = server.secrets["svc"]
    other_secret = await server.add_client("svc", tenant="other")  # same id, other tenant
    server.secrets["svc"] = mine_secret
    events: list[RevocationEvent] = []
    server.ctx.bus.subscribe(events.append)
    for token in ("garbage", "tat_unknown", "eyJ" + "x" * 9000, "\x00", mine[:-2]):
        response = await server.revoke("svc", token)
        assert response.status_code == 200, token[:12]
    # The same client id in another tenant cannot reach this tenant's tokens.
    elsewhere = await server.http.post(
        "/t/other/revoke", data={"token": mine}, auth=("svc", other_secret)
    )
    assert elsewhere.status_code == 200
    assert events == []
    assert (await server.introspect("rs", mine))["active"] is True


async def test_revocation_errors(server):
    await setup_clients(server)
    token = await server.access_token("svc")
    url = "/t/default/revoke"
    assert_oauth_error(await server.http.post(url, data={"token": token}), 401, "invalid_client")
    missing = await server.http.post(url, data={}, auth=("svc", server.secrets["svc"]))
    assert_oauth_error(missing, 400, "invalid_request")
    twice = await server.http.post(
        url, content=f"token={token}&token={token}", auth=("svc", server.secrets["svc"]),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert_oauth_error(twice, 400, "invalid_request")
    assert (await server.introspect("rs", token))["active"] is True


async def test_a_client_cannot_revoke_another_clients_token(server):
    """§2.1: the server verifies the token was issued to the revoking client."""
    await setup_clients(server)
    await server.add_client("thief")
    events: list[RevocationEvent] = []
    server.ctx.bus.subscribe(events.append)
    for owner in ("svc", "opq"):
        token = await server.access_token(owner)
        assert_oauth_error(await server.revoke("thief", token), 400, "unauthorized_client")
        assert_oauth_error(await server.revoke("rs", token), 400, "unauthorized_client")
        assert (await server.introspect("rs", token))["active"] is True
    assert events == []


async def test_second_revocation_is_200(server):
    await setup_clients(server)
    for owner in ("svc", "opq"):
        token = await server.access_token(owner)
        assert (await server.revoke(owner, token)).status_code == 200
        assert (await server.revoke(owner, token)).status_code == 200
        assert await server.introspect("rs", token) == {"active": False}


async def test_token_type_hint_is_only_a_hint(server):
    """RFC 7009 §2.1: a wrong hint does not stop the server from finding the token."""
    await setup_clients(server)
    token = await server.access_token("svc")
    response = await server.http.post(
        "/t/default/revoke",
        data={"token": token, "token_type_hint": "refresh_token"},
        auth=("svc", server.secrets["svc"]),
    )
    assert response.status_code == 200
    assert await server.introspect("rs", token) == {"active": False}


async def test_access_token_is_not_a_refresh_token_or_a_grant(server):
    """§7: an access token is only ever an access token."""
    await server.add_client("svc", grants=frozenset({"client_credentials", "refresh_token"}))
    token = await server.access_token("svc")
    secret = server.secrets["svc"]
    for form in (
        {"grant_type": "refresh_token", "refresh_token": token},
        {"grant_type": "authorization_code", "code": token},
        {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": token},
    ):
        response = await server.http.post(
            "/t/default/token", data=form, headers={"Authorization": basic("svc", secret)}
        )
        assert response.status_code == 400, form["grant_type"]
        assert response.headers["cache-control"] == "no-store"
        assert response.json()["error"] in {
            "invalid_grant",
            "unsupported_grant_type",
            "unauthorized_client",
        }


async def test_revocation_succeeds_and_is_stored_when_the_redis_feed_is_down(server):
    """The database is the source of truth: a feed outage is logged, never a 500, and
    this process's own subscribers still hear the event."""
    with socket.socket() as sock:  # a loopback port with nothing listening
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    bus = RedisEventBus(f"redis://127.0.0.1:{dead}/0")
    heard = []
    bus.subscribe(heard.append)
    server.ctx = replace(server.ctx, bus=bus)
    server.http._transport.app.state.ctx = server.ctx
    await server.add_client("svc")
    token = await server.access_token("svc")
    response = await server.revoke("svc", token)
    assert response.status_code == 200
    jti = peek_unverified_claims(token)["jti"]
    assert await server.ctx.store.is_revoked("default", jti, now=server.clock.now)
    assert [e.value for e in heard] == [jti]
    await bus.close()
