"""IntrospectionVerifier against the real server app (RFC 7662), on both backends.

The verifier talks HTTP to the app through the harness's ASGI client; the server's event bus
delivers revocations to it. Time is the harness clock; the verifier counts its requests.
"""

from __future__ import annotations

import httpx
import pytest
from harness import API, PUBLIC_URL

from tessera.errors import IntrospectionUnavailable, TokenError, TokenExpired, TokenInactive
from tessera.secret import Secret
from tessera.verify import BearerAuthMiddleware, IntrospectionVerifier


async def _setup(server, *, audience=API, ttl=60.0):
    await server.add_client("svc", token_format="opaque")
    await server.add_client("api", grants=frozenset(), introspect_for=(API,))
    verifier = IntrospectionVerifier(
        introspection_endpoint=f"{PUBLIC_URL}/t/default/introspect",
        client_id="api",
        client_secret=Secret(server.secrets["api"]),
        audience=audience,
        issuer=server.issuer,
        http=server.http,
        cache_ttl=ttl,
        clock=server.clock,
    )
    server.ctx.bus.subscribe(verifier.on_revocation)
    return verifier


async def test_active_opaque_token_gives_claims_and_is_cached(server):
    verifier = await _setup(server)
    token = await server.access_token("svc", scope="data:read")
    claims = await verifier.verify_async(token)
    assert claims.subject == "client:svc"
    assert claims.scope == {"data:read"}
    assert claims.issuer == server.issuer
    assert (await verifier.verify_async(token)).jwt_id == claims.jwt_id
    assert verifier.requests == 1


async def test_revocation_event_drops_the_cached_answer_at_once(server):
    verifier = await _setup(server)
    token = await server.access_token("svc")
    await verifier.verify_async(token)
    assert (await server.revoke("svc", token)).status_code == 200
    with pytest.raises(TokenInactive):
        await verifier.verify_async(token)
    assert verifier.requests == 2


async def test_cache_lives_until_the_ttl_then_asks_again(server):
    verifier = await _setup(server, ttl=30)
    token = await server.access_token("svc")
    await verifier.verify_async(token)
    server.clock.advance(31)
    await verifier.verify_async(token)
    assert verifier.requests == 2


async def test_cache_never_outlives_exp(server):
    """TTL longer than the token's life: the cached answer ends at exp."""
    verifier = await _setup(server, ttl=3600)
    token = await server.access_token("svc")
    await verifier.verify_async(token)
    server.clock.advance(server.ctx.settings.access_token_ttl_m2m)
    with pytest.raises(TokenError) as caught:
        await verifier.verify_async(token)
    assert isinstance(caught.value, TokenInactive | TokenExpired)
    assert verifier.requests == 2


async def test_token_for_another_audience_is_refused(server):
    verifier = await _setup(server, audience="https://other-api.example.test")
    token = await server.access_token("svc")
    with pytest.raises(TokenError):
        await verifier.verify_async(token)


async def test_garbage_and_unknown_tokens_are_inactive_and_not_cached(server):
    verifier = await _setup(server)
    for junk in ("tat_unknown-token-value-000000", "garbage"):
        with pytest.raises(TokenInactive):
            await verifier.verify_async(junk)
        with pytest.raises(TokenInactive):
            await verifier.verify_async(junk)
    assert verifier.requests == 4


async def test_wrong_verifier_credentials_fail_closed(server):
    verifier = await _setup(server)
    verifier._auth = httpx.BasicAuth("api", "tss_wrong")
    token = await server.access_token("svc")
    with pytest.raises(IntrospectionUnavailable):
        await verifier.verify_async(token)


async def test_same_middleware_protects_opaque_token_apis(server):
    verifier = await _setup(server)
    token = await server.access_token("svc")

    async def app(scope, receive, send):
        claims = scope["state"]["tessera_claims"]
        body = claims.subject.encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    protected = BearerAuthMiddleware(app, verifier)
    transport = httpx.ASGITransport(app=protected)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        ok = await client.get("/", headers={"Authorization": f"Bearer {token}"})
        await server.revoke("svc", token)
        gone = await client.get("/", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    assert ok.text == "client:svc"
    assert gone.status_code == 401
    assert 'error="invalid_token"' in gone.headers["www-authenticate"]


async def test_answer_naming_another_issuer_is_refused(server):
    """The pinned issuer is checked on the introspection answer too (a mix-up defence)."""
    verifier = await _setup(server)
    verifier.issuer = server.issuer + "/"
    token = await server.access_token("svc")
    with pytest.raises(TokenError) as caught:
        await verifier.verify_async(token)
    assert caught.value.code == "invalid_issuer"
