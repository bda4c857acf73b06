"""The README's story through HTTP: client credentials → verify with JWKS → introspect → revoke."""

from __future__ import annotations

from harness import API

from tessera.verify import Verifier


async def test_issue_verify_introspect_revoke(server):
    await server.add_client("svc")
    await server.add_client("api", grants=frozenset(), introspect_for=(API,))
    response = await server.token("svc", scope="data:read")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == "data:read"

    jwks = (await server.http.get("/t/default/jwks.json")).json()
    verifier = Verifier(issuer=server.issuer, audience=API, algorithms=["ES256"], keys=jwks)
    claims = verifier.verify(body["access_token"], now=server.clock.now)
    assert claims.subject == "client:svc"
    assert claims.client_id == "svc"
    assert claims.scope == {"data:read"}
    assert claims.tenant_id == "default"

    active = await server.introspect("api", body["access_token"])
    assert active["active"] is True
    assert active["jti"] == claims.jwt_id

    assert (await server.revoke("svc", body["access_token"])).status_code == 200
    assert await server.introspect("api", body["access_token"]) == {"active": False}
