"""The authorization code flow end to end over HTTP (issue 5 §2)."""

from __future__ import annotations

from _flow import (
    add_user,
    add_web_client,
    authorize,
    exchange,
    refresh,
)

from tessera.jose.unverified import peek_unverified_claims, peek_unverified_header


async def test_login_code_tokens_refresh(server):
    user = await add_user(server)
    await add_web_client(server)
    got = await authorize(server)
    response = await exchange(server, "web", got)
    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["cache-control"] == "no-store"
    assert set(body) >= {"access_token", "refresh_token", "id_token", "expires_in", "scope"}
    access = peek_unverified_claims(body["access_token"])
    assert access["sub"] == user.user_id
    id_claims = peek_unverified_claims(body["id_token"])
    assert id_claims["aud"] == "web"
    assert id_claims["nonce"] == got.nonce
    assert peek_unverified_header(body["id_token"])["typ"] == "JWT"
    again = await refresh(server, "web", body["refresh_token"])
    assert again.status_code == 200, again.text
    assert again.json()["refresh_token"] != body["refresh_token"]
