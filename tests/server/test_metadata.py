"""Discovery metadata (RFC 8414) and the published JWKS (RFC 7517; SECURITY.md §5)."""

from __future__ import annotations

from _oauth import assert_all
from harness import PUBLIC_URL

from tessera.storage.records import Tenant

OIDC = "/t/default/.well-known/openid-configuration"
RFC8414 = "/.well-known/oauth-authorization-server/t/default"
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}


async def test_metadata_is_the_same_at_both_paths(server):
    """RFC 8414 §3: ``/.well-known/oauth-authorization-server`` is inserted before the path."""
    oidc, rfc = await server.http.get(OIDC), await server.http.get(RFC8414)
    assert oidc.status_code == rfc.status_code == 200
    assert oidc.content == rfc.content
    assert oidc.headers["content-type"] == "application/json"
    doc = oidc.json()
    # §3.3: the issuer in the document is identical to the one the document was fetched for.
    assert doc["issuer"] == f"{PUBLIC_URL}/t/default" == server.issuer


async def test_metadata_endpoints_live_under_the_issuer_and_answer(server):
    doc = (await server.http.get(OIDC)).json()
    names = ["token_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint"]
    for name in names:
        assert doc[name].startswith(doc["issuer"] + "/"), name
    assert doc["jwks_uri"] == doc["issuer"] + "/jwks.json"
    jwks = await server.http.get(doc["jwks_uri"].removeprefix(PUBLIC_URL))
    assert jwks.status_code == 200
    for name in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
        response = await server.http.post(doc[name].removeprefix(PUBLIC_URL), data={"x": "y"})
        assert response.status_code == 401, name  # routed, and asks for client auth


async def test_metadata_states_only_what_the_server_does(server):
    doc = (await server.http.get(OIDC)).json()
    assert doc["grant_types_supported"] == [
        "authorization_code",
        "refresh_token",
        "client_credentials",
    ]
    assert "password" not in doc["grant_types_supported"]
    assert "implicit" not in doc["grant_types_supported"]
    assert "token" not in doc.get("response_types_supported", [])
    methods = {"client_secret_basic", "client_secret_post", "none"}
    assert set(doc["token_endpoint_auth_methods_supported"]) == methods
    assert set(doc["introspection_endpoint_auth_methods_supported"]) == methods - {"none"}
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["id_token_signing_alg_values_supported"] == ["ES256"]
    assert "none" not in doc["access_token_signing_alg_values_supported"]
    assert doc["access_token_signing_alg_values_supported"] == ["ES256"]


async def test_jwks_document(server):
    """SECURITY.md §5: explicit alg, use sig, no private members, no duplicate kid."""
    # A second tenant's keys must not show up in this tenant's set.
    await server.ctx.store.add_tenant(Tenant("other", "Other", server.clock.now))
    await server.ctx.keys.ensure("other", server.clock.now)
    await server.ctx.keys.rotate("default", server.clock.now)  # publish a next key as well
    response = await server.http.get("/t/default/jwks.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/jwk-set+json"
    max_age = server.ctx.settings.jwks_max_age
    assert response.headers["cache-control"] == f"public, max-age={max_age}"
    assert max_age == 300
    body = response.json()
    assert set(body) == {"keys"}
    keys = body["keys"]
    assert len(keys) >= 2
    kids = [k["kid"] for k in keys]
    assert len(kids) == len(set(kids))
    for key in keys:
        assert key["use"] == "sig"
        assert key["alg"] == "ES256"
        assert key["kty"] == "EC"
        assert key["crv"] == "P-256"
        assert not PRIVATE_MEMBERS & set(key), sorted(key)
    other = (await server.http.get("/t/other/jwks.json")).json()["keys"]
    assert not {k["kid"] for k in other} & set(kids)


async def test_unknown_tenant_is_404_everywhere(server):
    paths = [
        "/t/nope/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server/t/nope",
        "/t/nope/jwks.json",
        "/t/DEFAULT/jwks.json",
        "/.well-known/oauth-authorization-server/t/Default",
    ]
    assert_all([(p, await server.http.get(p)) for p in paths], 404, "invalid_request")
