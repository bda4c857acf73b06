"""SECURITY.md §8–9 at the token endpoint: codes, refresh rotation, reuse, families."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from dataclasses import replace

import pytest
from _flow import (
    add_user,
    add_web_client,
    authorize,
    exchange,
    refresh,
    token_request,
    tokens_for,
)
from _oauth import assert_oauth_error
from structlog.testing import capture_logs

from tessera.jose.unverified import peek_unverified_claims


@pytest.fixture
async def web(server):
    await add_user(server)
    await add_web_client(server)
    return server


async def _is_denied(h, access_token: str) -> bool:
    jti = peek_unverified_claims(access_token)["jti"]
    return await h.ctx.store.is_revoked("default", jti, now=h.clock.now)


# --- authorization codes --------------------------------------------------------------------


async def test_code_redeemed_twice_is_refused_and_revokes_the_firsttokens_for(web):
    got, first = await tokens_for(web)
    again = await exchange(web, "web", got)
    assert_oauth_error(again, 400, "invalid_grant")
    assert await _is_denied(web, first["access_token"])
    assert_oauth_error(await refresh(web, "web", first["refresh_token"]), 400, "invalid_grant")


async def test_concurrent_redemptions_of_one_code_issue_at_most_once(web):
    got = await authorize(web)
    answers = await asyncio.gather(*(exchange(web, "web", got) for _ in range(10)))
    ok = [a for a in answers if a.status_code == 200]
    assert len(ok) <= 1
    for answer in answers:
        if answer.status_code != 200:
            assert_oauth_error(answer, 400, "invalid_grant")
    # A replay arrived while or after the winner redeemed: its tokens are revoked too.
    if ok:
        assert await _is_denied(web, ok[0].json()["access_token"])


async def test_code_of_client_a_is_useless_to_client_b(web):
    await add_web_client(web, "other")
    got = await authorize(web)
    response = await token_request(
        web,
        "other",
        grant_type="authorization_code",
        code=got.code,
        redirect_uri=got.redirect_uri,
        code_verifier=got.verifier,
    )
    assert_oauth_error(response, 400, "invalid_grant")
    # The rightful client can still redeem it: a foreign attempt does not burn the code.
    assert (await exchange(web, "web", got)).status_code == 200


async def test_code_expires_after_its_lifetime(web):
    got = await authorize(web)
    web.clock.advance(web.ctx.settings.code_ttl)
    assert_oauth_error(await exchange(web, "web", got), 400, "invalid_grant")


@pytest.mark.parametrize(
    "change",
    [
        {"code_verifier": "A" * 43},
        {"code_verifier": None},
        {"code_verifier": "short"},
        {"redirect_uri": "https://app.example.test/callback/"},
        {"redirect_uri": None},
        {"code": "tac_" + "A" * 43},
        {"code": "not-a-code"},
    ],
)
async def test_code_exchange_mismatches_are_invalid_grant(web, change):
    got = await authorize(web)
    form = {
        "grant_type": "authorization_code",
        "code": got.code,
        "redirect_uri": got.redirect_uri,
        "code_verifier": got.verifier,
        **change,
    }
    form = {k: v for k, v in form.items() if v is not None}
    assert_oauth_error(await token_request(web, "web", **form), 400, "invalid_grant")


async def test_verifier_of_a_plain_challenge_does_not_pass(web):
    """The challenge is S256 of the verifier; sending the challenge itself must fail."""
    got = await authorize(web)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(got.verifier.encode()).digest())
    form = {
        "grant_type": "authorization_code",
        "code": got.code,
        "redirect_uri": got.redirect_uri,
        "code_verifier": challenge.rstrip(b"=").decode(),
    }
    assert_oauth_error(await token_request(web, "web", **form), 400, "invalid_grant")


@pytest.mark.parametrize("grant", ["password", "implicit"])
async def test_password_and_implicit_grants_do_not_exist(web, grant):
    response = await token_request(web, "web", grant_type=grant, username="a", password="b")
    assert_oauth_error(response, 400, "unsupported_grant_type")


async def test_wrong_client_secret_is_invalid_client(web):
    response = await web.http.post(
        f"{web.issuer}/token",
        data={"grant_type": "refresh_token", "refresh_token": "trt_x"},
        auth=("web", "tss_wrong"),
    )
    assert_oauth_error(response, 401, "invalid_client")


# --- public clients -------------------------------------------------------------------------


async def test_public_client_uses_pkce_and_client_id_only(server):
    await add_user(server)
    await add_web_client(server, "spa", public=True)
    _got, body = await tokens_for(server, "spa")
    assert "refresh_token" in body
    assert (await refresh(server, "spa", body["refresh_token"])).status_code == 200
    cc = await token_request(server, "spa", grant_type="client_credentials")
    assert_oauth_error(cc, 400, "unauthorized_client")


async def test_confidential_client_cannot_pose_as_public(web):
    got = await authorize(web)
    response = await web.http.post(
        f"{web.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "client_id": "web",
            "code": got.code,
            "redirect_uri": got.redirect_uri,
            "code_verifier": got.verifier,
        },
    )
    assert_oauth_error(response, 401, "invalid_client")


# --- refresh tokens -------------------------------------------------------------------------


async def test_refresh_rotates_every_time_and_issues_a_new_access_token(web):
    _, body = await tokens_for(web)
    seen = {body["refresh_token"]}
    current = body
    for _ in range(3):
        web.clock.advance(10)
        response = await refresh(web, "web", current["refresh_token"])
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        nxt = response.json()
        assert nxt["refresh_token"] not in seen
        assert nxt["access_token"] != current["access_token"]
        assert "id_token" in nxt
        seen.add(nxt["refresh_token"])
        current = nxt


async def test_reuse_after_the_grace_window_revokes_the_family(web):
    _, body = await tokens_for(web)
    second = (await refresh(web, "web", body["refresh_token"])).json()
    web.clock.advance(web.ctx.settings.refresh_grace_period + 1)
    assert_oauth_error(await refresh(web, "web", body["refresh_token"]), 400, "invalid_grant")
    # The whole family is dead, and every access token it issued is denied.
    assert_oauth_error(await refresh(web, "web", second["refresh_token"]), 400, "invalid_grant")
    assert await _is_denied(web, body["access_token"])
    assert await _is_denied(web, second["access_token"])


async def test_retry_within_the_grace_window_gets_the_same_successor(web):
    _, body = await tokens_for(web)
    first = (await refresh(web, "web", body["refresh_token"])).json()
    web.clock.advance(2)
    retry = await refresh(web, "web", body["refresh_token"])
    assert retry.status_code == 200
    assert retry.json()["refresh_token"] == first["refresh_token"]
    # No fork: the successor still works, once.
    assert (await refresh(web, "web", first["refresh_token"])).status_code == 200


async def test_parent_is_reuse_once_its_successor_was_used(web):
    _, body = await tokens_for(web)
    first = (await refresh(web, "web", body["refresh_token"])).json()
    second = (await refresh(web, "web", first["refresh_token"])).json()
    assert_oauth_error(await refresh(web, "web", body["refresh_token"]), 400, "invalid_grant")
    assert_oauth_error(await refresh(web, "web", second["refresh_token"]), 400, "invalid_grant")


async def test_grace_window_zero_makes_every_second_use_reuse(server, tmp_path):
    object.__setattr__(
        server.ctx, "settings", server.ctx.settings.model_copy(update={"refresh_grace_period": 0})
    )
    await add_user(server)
    await add_web_client(server)
    _, body = await tokens_for(server)
    first = (await refresh(server, "web", body["refresh_token"])).json()
    assert_oauth_error(await refresh(server, "web", body["refresh_token"]), 400, "invalid_grant")
    assert_oauth_error(await refresh(server, "web", first["refresh_token"]), 400, "invalid_grant")


async def test_grace_retry_is_only_for_the_same_client(web):
    await add_web_client(web, "other")
    _, body = await tokens_for(web)
    assert (await refresh(web, "web", body["refresh_token"])).status_code == 200
    stolen = await refresh(web, "other", body["refresh_token"])
    assert_oauth_error(stolen, 400, "invalid_grant")
    assert "refresh_token" not in stolen.json()


async def test_refresh_token_of_client_a_is_useless_to_client_b(web):
    await add_web_client(web, "other")
    _, body = await tokens_for(web)
    assert_oauth_error(await refresh(web, "other", body["refresh_token"]), 400, "invalid_grant")
    assert (await refresh(web, "web", body["refresh_token"])).status_code == 200


async def test_scope_can_shrink_never_grow(web):
    _, body = await tokens_for(web)
    grown = await refresh(web, "web", body["refresh_token"], scope="openid data:write")
    assert_oauth_error(grown, 400, "invalid_scope")
    shrunk = await refresh(web, "web", body["refresh_token"], scope="data:read")
    assert shrunk.status_code == 200
    assert shrunk.json()["scope"] == "data:read"
    assert "id_token" not in shrunk.json()
    # The rotated token keeps the grant's scope: the next refresh may ask for all of it again.
    full = await refresh(web, "web", shrunk.json()["refresh_token"])
    assert set(full.json()["scope"].split()) == {"openid", "profile", "email", "data:read"}


async def test_idle_lifetime_ends_an_unused_refresh_token(web):
    _, body = await tokens_for(web)
    web.clock.advance(web.ctx.settings.refresh_idle_ttl)
    assert_oauth_error(await refresh(web, "web", body["refresh_token"]), 400, "invalid_grant")


async def test_absolute_lifetime_ends_the_family_despite_use(web):
    _, body = await tokens_for(web)
    token = body["refresh_token"]
    step = web.ctx.settings.refresh_idle_ttl - 60
    elapsed = 0
    while elapsed + step < web.ctx.settings.refresh_absolute_ttl:
        web.clock.advance(step)
        elapsed += step
        response = await refresh(web, "web", token)
        assert response.status_code == 200, response.text
        token = response.json()["refresh_token"]
    web.clock.advance(web.ctx.settings.refresh_absolute_ttl - elapsed)
    assert_oauth_error(await refresh(web, "web", token), 400, "invalid_grant")


async def test_disabled_user_cannot_refresh(web):
    _, body = await tokens_for(web)
    user = await web.ctx.store.find_user_by_email("default", "ada@example.test")
    await web.ctx.store.replace_user(replace(user, disabled=True))
    assert_oauth_error(await refresh(web, "web", body["refresh_token"]), 400, "invalid_grant")


async def test_disabled_user_code_is_not_redeemed(web):
    got = await authorize(web)
    user = await web.ctx.store.find_user_by_email("default", "ada@example.test")
    await web.ctx.store.replace_user(replace(user, disabled=True))
    assert_oauth_error(await exchange(web, "web", got), 400, "invalid_grant")


async def test_revoking_a_refresh_token_revokes_its_family(web):
    _, body = await tokens_for(web)
    response = await web.http.post(
        f"{web.issuer}/revoke",
        data={"token": body["refresh_token"]},
        auth=("web", web.secrets["web"]),
    )
    assert response.status_code == 200
    assert_oauth_error(await refresh(web, "web", body["refresh_token"]), 400, "invalid_grant")
    assert await _is_denied(web, body["access_token"])


async def test_another_client_cannot_revoke_my_refresh_token(web):
    await add_web_client(web, "other")
    _, body = await tokens_for(web)
    response = await web.http.post(
        f"{web.issuer}/revoke",
        data={"token": body["refresh_token"]},
        auth=("other", web.secrets["other"]),
    )
    assert response.status_code == 400
    assert (await refresh(web, "web", body["refresh_token"])).status_code == 200


@pytest.mark.parametrize("token", ["", "trt_", "trt_" + "x" * 500, "eyJ.x.y", "tat_abc"])
async def test_garbage_refresh_tokens_are_invalid_grant(web, token):
    form = {"grant_type": "refresh_token"}
    if token:
        form["refresh_token"] = token
    response = await token_request(web, "web", **form)
    assert response.status_code == 400
    assert response.json()["error"] in {"invalid_grant", "invalid_request"}


async def test_fifty_concurrent_refreshes_never_fork_the_family(web):
    _, body = await tokens_for(web)
    answers = await asyncio.gather(*(refresh(web, "web", body["refresh_token"]) for _ in range(50)))
    successors = {a.json()["refresh_token"] for a in answers if a.status_code == 200}
    for answer in answers:
        if answer.status_code != 200:
            assert_oauth_error(answer, 400, "invalid_grant")
    assert len(successors) == 1
    (successor,) = successors
    # One successor, one family, and it still works.
    assert (await refresh(web, "web", successor)).status_code == 200


async def test_reuse_emits_an_audit_event_without_the_token(web):
    _, body = await tokens_for(web)
    await refresh(web, "web", body["refresh_token"])
    web.clock.advance(60)
    with capture_logs() as logs:
        await refresh(web, "web", body["refresh_token"])
    reuse = [e for e in logs if e.get("event") == "refresh.reuse_detected"]
    assert len(reuse) == 1
    assert reuse[0]["client_id"] == "web"
    assert reuse[0]["outcome"] == "family_revoked"
    assert body["refresh_token"] not in repr(logs)


async def test_refresh_cannot_switch_to_another_resource(web):
    _, body = await tokens_for(web)
    other = await refresh(web, "web", body["refresh_token"], resource="https://other.example.test")
    assert_oauth_error(other, 400, "invalid_grant")
    same = await refresh(web, "web", body["refresh_token"], resource="https://api.example.test")
    assert same.status_code == 200
