"""OpenID Connect: ID tokens, userinfo, prompt/max_age, PAR, RP-initiated logout (issue 5 §2)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace

import jwt as pyjwt
import pytest
from _flow import (
    PASSWORD,
    REDIRECT,
    add_user,
    add_web_client,
    authorize,
    authorize_params,
    exchange,
    hidden,
    location_params,
    login,
    pkce_pair,
    refresh,
    token_request,
    tokens_for,
)
from _oauth import assert_oauth_error, verified_claims
from harness import API

BYE = "https://app.example.test/bye"


@pytest.fixture
async def web(server):
    server.user = await add_user(server)
    await add_web_client(server)
    return server


async def _id_claims(h, id_token: str, audience: str = "web") -> dict:
    """Verified by PyJWT against the published JWKS: an independent implementation."""
    jwks = (await h.http.get(f"{h.issuer}/jwks.json")).json()
    kid = pyjwt.get_unverified_header(id_token)["kid"]
    key = next(pyjwt.PyJWK(k) for k in jwks["keys"] if k["kid"] == kid)
    return pyjwt.decode(
        id_token,
        key=key.key,
        algorithms=["ES256"],
        audience=audience,
        issuer=h.issuer,
        options={"verify_iat": False, "verify_exp": False},
    )


async def test_id_token_claims_and_at_hash(web):
    got, body = await tokens_for(web)
    claims = await _id_claims(web, body["id_token"])
    assert claims["sub"] == web.user.user_id
    assert claims["nonce"] == got.nonce
    assert claims["azp"] == "web"
    assert claims["auth_time"] == int(web.clock.now)
    assert isinstance(claims["sid"], str)
    digest = hashlib.sha256(body["access_token"].encode()).digest()[:16]
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert "email" not in claims  # no personal data in the ID token beyond sub
    # The access token is an RFC 9068 token for the API, with auth_time and no PII.
    access = await verified_claims(web, body["access_token"], API)
    assert access["sub"] == web.user.user_id
    assert access["auth_time"] == int(web.clock.now)
    assert "email" not in access


async def test_refresh_id_token_has_no_nonce_and_keeps_auth_time(web):
    _, body = await tokens_for(web)
    web.clock.advance(100)
    again = (await refresh(web, "web", body["refresh_token"])).json()
    claims = await _id_claims(web, again["id_token"])
    assert "nonce" not in claims
    assert claims["auth_time"] == int(web.clock.now - 100)


async def test_no_openid_scope_no_id_token(web):
    got = await authorize(web, scope="data:read")
    body = (await exchange(web, "web", got)).json()
    assert "id_token" not in body


async def test_userinfo_returns_claims_by_scope(web):
    _, body = await tokens_for(web)
    response = await web.http.get(
        f"{web.issuer}/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert response.status_code == 200
    assert response.json() == {
        "sub": web.user.user_id,
        "name": "Ada Lovelace",
        "email": "ada@example.test",
        "email_verified": False,
    }
    narrow = await authorize(web, scope="openid")
    token = (await exchange(web, "web", narrow)).json()["access_token"]
    only = await web.http.get(
        f"{web.issuer}/userinfo", headers={"Authorization": f"Bearer {token}"}
    )
    assert only.json() == {"sub": web.user.user_id}


async def test_userinfo_refuses_badtokens_for(web):
    _, body = await tokens_for(web)
    cases = [
        ({}, 401),
        ({"Authorization": "Bearer garbage"}, 401),
        ({"Authorization": f"Basic {body['access_token']}"}, 401),
        ({"Authorization": f"Bearer {body['id_token']}"}, 401),  # an ID token is not access
    ]
    for headers, status in cases:
        response = await web.http.get(f"{web.issuer}/userinfo", headers=headers)
        assert response.status_code == status
        assert "www-authenticate" in response.headers
    query = await web.http.get(
        f"{web.issuer}/userinfo", params={"access_token": body["access_token"]}
    )
    assert query.status_code == 400
    no_openid = (await exchange(web, "web", await authorize(web, scope="data:read"))).json()
    scoped = await web.http.get(
        f"{web.issuer}/userinfo",
        headers={"Authorization": f"Bearer {no_openid['access_token']}"},
    )
    assert scoped.status_code == 403
    cc = await web.add_client("svc")
    assert cc
    machine = await web.access_token("svc")
    response = await web.http.get(
        f"{web.issuer}/userinfo", headers={"Authorization": f"Bearer {machine}"}
    )
    assert response.status_code in (401, 403)


async def test_userinfo_refuses_revoked_access_token(web):
    _, body = await tokens_for(web)
    await web.http.post(
        f"{web.issuer}/revoke",
        data={"token": body["refresh_token"]},
        auth=("web", web.secrets["web"]),
    )
    response = await web.http.get(
        f"{web.issuer}/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert response.status_code == 401


# --- prompt and max_age ---------------------------------------------------------------------


async def test_prompt_none_without_session_is_login_required(web):
    _, challenge = pkce_pair()
    params = authorize_params("web", challenge, prompt="none")
    got = location_params(await web.http.get(f"{web.issuer}/authorize", params=params))
    assert got["error"] == "login_required"
    assert got["state"] == params["state"]


async def test_prompt_none_with_session_is_silent(web):
    await authorize(web)
    _, challenge = pkce_pair()
    got = location_params(
        await web.http.get(
            f"{web.issuer}/authorize", params=authorize_params("web", challenge, prompt="none")
        )
    )
    assert "code" in got


async def test_prompt_none_needing_consent_is_consent_required(web):
    await add_web_client(web, "third", first_party=False)
    await authorize(web)  # logged in (first-party client)
    _, challenge = pkce_pair()
    got = location_params(
        await web.http.get(
            f"{web.issuer}/authorize", params=authorize_params("third", challenge, prompt="none")
        )
    )
    assert got["error"] == "consent_required"


async def test_prompt_login_and_max_age_force_a_fresh_login(web):
    await authorize(web)
    _, challenge = pkce_pair()
    forced = await web.http.get(
        f"{web.issuer}/authorize", params=authorize_params("web", challenge, prompt="login")
    )
    assert "/login?" in forced.headers["location"]
    web.clock.advance(120)
    recent = await web.http.get(
        f"{web.issuer}/authorize", params=authorize_params("web", challenge, max_age="600")
    )
    assert "code" in location_params(recent)
    stale = await web.http.get(
        f"{web.issuer}/authorize", params=authorize_params("web", challenge, max_age="60")
    )
    assert "/login?" in stale.headers["location"]
    relogged = await login(web, stale, "ada@example.test", PASSWORD)
    assert "code" in location_params(relogged)


# --- PAR ------------------------------------------------------------------------------------


async def _push(h, client_id="web", **extra):
    verifier, challenge = pkce_pair()
    params = authorize_params(client_id, challenge, **extra)
    secret = h.secrets.get(client_id)
    response = await h.http.post(
        f"{h.issuer}/par", data=params, auth=(client_id, secret) if secret else None
    )
    return verifier, params, response


async def test_par_then_authorize_with_request_uri(web):
    verifier, params, pushed = await _push(web)
    assert pushed.status_code == 201, pushed.text
    body = pushed.json()
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert body["expires_in"] == web.ctx.settings.par_ttl
    first = await web.http.get(
        f"{web.issuer}/authorize", params={"client_id": "web", "request_uri": body["request_uri"]}
    )
    done = await login(web, first, "ada@example.test", PASSWORD)
    got = location_params(done)
    assert got["state"] == params["state"]
    response = await token_request(
        web,
        "web",
        grant_type="authorization_code",
        code=got["code"],
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    assert response.status_code == 200
    # Single use.
    again = await web.http.get(
        f"{web.issuer}/authorize", params={"client_id": "web", "request_uri": body["request_uri"]}
    )
    assert again.status_code == 400
    assert "location" not in again.headers


async def test_par_is_validated_and_bound_to_its_client(web):
    await add_web_client(web, "other")
    _, _, bad = await _push(web, redirect_uri="https://evil.test/cb")
    assert_oauth_error(bad, 400, "invalid_request")
    _, _, plain = await _push(web, code_challenge_method="plain")
    assert_oauth_error(plain, 400, "invalid_request")
    _, _, pushed = await _push(web)
    stolen = await web.http.get(
        f"{web.issuer}/authorize",
        params={"client_id": "other", "request_uri": pushed.json()["request_uri"]},
    )
    assert stolen.status_code == 400
    unauth = await web.http.post(f"{web.issuer}/par", data=authorize_params("web", pkce_pair()[1]))
    assert_oauth_error(unauth, 401, "invalid_client")


async def test_par_request_uri_expires(web):
    _, _, pushed = await _push(web)
    web.clock.advance(web.ctx.settings.par_ttl + 1)
    response = await web.http.get(
        f"{web.issuer}/authorize",
        params={"client_id": "web", "request_uri": pushed.json()["request_uri"]},
    )
    assert response.status_code == 400


async def test_require_par_refuses_front_channel_requests(server):
    await add_user(server)
    await add_web_client(server, "strict", require_par=True)
    _, challenge = pkce_pair()
    response = await server.http.get(
        f"{server.issuer}/authorize", params=authorize_params("strict", challenge)
    )
    assert response.status_code == 400
    _, _, pushed = await _push(server, "strict")
    assert pushed.status_code == 201


# --- logout ---------------------------------------------------------------------------------


async def test_rp_initiated_logout_ends_session_and_revokes_the_family(web):
    got, body = await tokens_for(web)
    response = await web.http.get(
        f"{web.issuer}/logout",
        params={
            "id_token_hint": body["id_token"],
            "post_logout_redirect_uri": BYE,
            "state": "s1",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{BYE}?state=s1"
    assert_oauth_error(await refresh(web, "web", body["refresh_token"]), 400, "invalid_grant")
    # The session is over: the next authorization asks for a login again.
    _, challenge = pkce_pair()
    again = await web.http.get(f"{web.issuer}/authorize", params=authorize_params("web", challenge))
    assert "/login?" in again.headers["location"]
    del got


@pytest.mark.parametrize(
    "uri", ["https://evil.test/", BYE + "/", BYE + "?x=1", "https://app.example.test/callback"]
)
async def test_logout_never_redirects_to_an_unregistered_uri(web, uri):
    _, body = await tokens_for(web)
    response = await web.http.get(
        f"{web.issuer}/logout",
        params={"id_token_hint": body["id_token"], "post_logout_redirect_uri": uri},
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    # Nothing was ended.
    assert (await refresh(web, "web", body["refresh_token"])).status_code == 200


async def test_logout_with_a_forged_hint_is_refused(web):
    _, body = await tokens_for(web)
    forged = body["id_token"][:-4] + ("AAAA" if body["id_token"][-4:] != "AAAA" else "BBBB")
    response = await web.http.get(
        f"{web.issuer}/logout",
        params={"id_token_hint": forged, "post_logout_redirect_uri": BYE},
    )
    assert response.status_code == 400
    assert (await refresh(web, "web", body["refresh_token"])).status_code == 200


async def test_logout_without_hint_asks_for_confirmation_with_csrf(web):
    _, body = await tokens_for(web)
    page = await web.http.get(f"{web.issuer}/logout")
    assert page.status_code == 200
    assert page.headers["x-frame-options"] == "DENY"
    # A cross-site POST without the token does nothing.
    forged = await web.http.post(
        f"{web.issuer}/logout",
        data={"logout": hidden(page.text, "logout"), "csrf": "x", "decision": "logout"},
    )
    assert forged.status_code == 400
    assert (await refresh(web, "web", body["refresh_token"])).status_code == 200
    page = await web.http.get(f"{web.issuer}/logout")
    confirmed = await web.http.post(
        f"{web.issuer}/logout",
        data={
            "logout": hidden(page.text, "logout"),
            "csrf": hidden(page.text, "csrf"),
            "decision": "logout",
        },
    )
    assert confirmed.status_code == 200
    assert "signed out" in confirmed.text
    _, challenge = pkce_pair()
    again = await web.http.get(f"{web.issuer}/authorize", params=authorize_params("web", challenge))
    assert "/login?" in again.headers["location"]


async def test_metadata_advertises_the_user_flows(web):
    meta = (await web.http.get(f"{web.issuer}/.well-known/openid-configuration")).json()
    assert meta["authorization_endpoint"] == f"{web.issuer}/authorize"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["response_types_supported"] == ["code"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert "refresh_token" in meta["grant_types_supported"]
    assert meta["pushed_authorization_request_endpoint"] == f"{web.issuer}/par"
    assert meta["end_session_endpoint"] == f"{web.issuer}/logout"


async def test_a_disabled_user_loses_the_login_session_at_once(web):
    await authorize(web)
    user = await web.ctx.store.find_user_by_email("default", "ada@example.test")
    await web.ctx.store.replace_user(replace(user, disabled=True))
    _, challenge = pkce_pair()
    got = location_params(
        await web.http.get(
            f"{web.issuer}/authorize", params=authorize_params("web", challenge, prompt="none")
        )
    )
    assert got["error"] == "login_required"


async def test_par_refuses_a_pushed_request_uri(web):
    _, _, pushed = await _push(web, request_uri="urn:ietf:params:oauth:request_uri:x")
    assert_oauth_error(pushed, 400, "invalid_request")


async def test_logout_hint_and_client_id_must_agree(web):
    await add_web_client(web, "other", post_logout=(BYE,))
    _, body = await tokens_for(web)
    response = await web.http.get(
        f"{web.issuer}/logout",
        params={"id_token_hint": body["id_token"], "client_id": "other"},
    )
    assert response.status_code == 400
    assert (await refresh(web, "web", body["refresh_token"])).status_code == 200
