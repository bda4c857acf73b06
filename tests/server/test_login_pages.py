"""The login and consent pages: CSRF, origin, enumeration, throttling, fixation (issue 5 §1)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from _flow import (
    PASSWORD,
    REDIRECT,
    add_user,
    add_web_client,
    authorize_params,
    consent,
    hidden,
    location_params,
    login,
    pkce_pair,
)

from tessera.secret import Secret
from tessera.server.passwords import PasswordHasher


@pytest.fixture
async def web(server):
    await add_user(server)
    await add_web_client(server)
    return server


async def _login_page(h, client_id="web", **extra):
    _, challenge = pkce_pair()
    first = await h.http.get(
        f"{h.issuer}/authorize", params=authorize_params(client_id, challenge, **extra)
    )
    assert first.status_code == 303
    page = await h.http.get(first.headers["location"])
    assert page.status_code == 200
    return page


def _form(page, **fields):
    return {
        "interaction": hidden(page.text, "interaction"),
        "csrf": hidden(page.text, "csrf"),
        "email": "ada@example.test",
        "password": PASSWORD,
        **fields,
    }


async def test_successful_login_answers_303_with_a_code_and_sets_an_httponly_session(web):
    page = await _login_page(web)
    response = await web.http.post(f"{web.issuer}/login", data=_form(page))
    assert response.status_code == 303
    assert response.headers["location"].startswith(REDIRECT + "?code=")
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and "session" in v
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    assert "Path=/" in cookie


@pytest.mark.parametrize("csrf", ["", "x", "A" * 43])
async def test_login_without_the_right_csrf_token_is_refused(web, csrf):
    page = await _login_page(web)
    response = await web.http.post(f"{web.issuer}/login", data=_form(page, csrf=csrf))
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_csrf_token_is_bound_to_the_browser(web):
    page = await _login_page(web)
    form = _form(page)
    web.http.cookies.clear()  # another browser: no binding cookie
    response = await web.http.post(f"{web.issuer}/login", data=form)
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_cross_origin_post_is_refused(web):
    page = await _login_page(web)
    response = await web.http.post(
        f"{web.issuer}/login", data=_form(page), headers={"Origin": "https://evil.test"}
    )
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_unknown_user_and_wrong_password_get_the_same_answer(web):
    page = await _login_page(web)
    wrong = await web.http.post(f"{web.issuer}/login", data=_form(page, password="nope-nope"))
    page = await _login_page(web)
    unknown = await web.http.post(
        f"{web.issuer}/login", data=_form(page, email="nobody@example.test")
    )
    assert wrong.status_code == unknown.status_code == 401
    assert "Incorrect email or password." in wrong.text
    assert "Incorrect email or password." in unknown.text
    assert "location" not in wrong.headers


async def test_disabled_user_cannot_log_in_and_looks_like_a_wrong_password(web):
    user = await web.ctx.store.find_user_by_email("default", "ada@example.test")
    await web.ctx.store.replace_user(replace(user, disabled=True))
    page = await _login_page(web)
    response = await web.http.post(f"{web.issuer}/login", data=_form(page))
    assert response.status_code == 401
    assert "Incorrect email or password." in response.text


async def test_repeated_failures_lock_the_account_even_with_the_right_password(web):
    settings = web.ctx.settings
    for _ in range(settings.login_account_lockout):
        page = await _login_page(web)
        await web.http.post(f"{web.issuer}/login", data=_form(page, password="wrong-password"))
        web.clock.advance(61)  # past each backoff, inside the window
    page = await _login_page(web)
    locked = await web.http.post(f"{web.issuer}/login", data=_form(page))
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    web.clock.advance(settings.login_lockout_seconds + 1)
    page = await _login_page(web)
    assert (await web.http.post(f"{web.issuer}/login", data=_form(page))).status_code == 303


async def test_backoff_after_a_few_failures(web):
    for _ in range(web.ctx.settings.login_backoff_after):
        page = await _login_page(web)
        await web.http.post(f"{web.issuer}/login", data=_form(page, password="wrong-password"))
    page = await _login_page(web)
    response = await web.http.post(f"{web.issuer}/login", data=_form(page))
    assert response.status_code == 429


async def test_unknown_email_is_throttled_like_a_real_one(web):
    for _ in range(web.ctx.settings.login_backoff_after):
        page = await _login_page(web)
        await web.http.post(f"{web.issuer}/login", data=_form(page, email="ghost@example.test"))
    page = await _login_page(web)
    response = await web.http.post(
        f"{web.issuer}/login", data=_form(page, email="ghost@example.test")
    )
    assert response.status_code == 429


async def test_login_creates_a_new_session_id_every_time(web):
    web.http.cookies.set("tessera-session-default", "attacker-chosen-value", domain="127.0.0.1")
    page = await _login_page(web)
    response = await web.http.post(f"{web.issuer}/login", data=_form(page))
    assert response.status_code == 303
    set_cookies = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    session = next(c for c in set_cookies if c.startswith("tessera-session-default="))
    assert "attacker-chosen-value" not in session


async def test_an_interaction_is_single_use(web):
    page = await _login_page(web)
    form = _form(page)
    assert (await web.http.post(f"{web.issuer}/login", data=form)).status_code == 303
    again = await web.http.post(f"{web.issuer}/login", data=form)
    assert again.status_code == 400


async def test_interaction_expires(web):
    page = await _login_page(web)
    web.clock.advance(web.ctx.settings.interaction_ttl + 1)
    response = await web.http.post(f"{web.issuer}/login", data=_form(page))
    assert response.status_code == 400


async def test_password_hash_is_upgraded_on_login(web):
    user = await web.ctx.store.find_user_by_email("default", "ada@example.test")
    weak = PasswordHasher(time_cost=1, memory_kib=8192, parallelism=2)
    await web.ctx.store.replace_user(replace(user, password_hash=weak.hash(Secret(PASSWORD))))
    page = await _login_page(web)
    assert (await web.http.post(f"{web.issuer}/login", data=_form(page))).status_code == 303
    upgraded = await web.ctx.store.find_user_by_email("default", "ada@example.test")
    assert "p=1" in upgraded.password_hash
    assert "p=2" not in upgraded.password_hash


async def test_get_login_with_unknown_interaction_is_an_error_page(web):
    response = await web.http.get(f"{web.issuer}/login?interaction=forged")
    assert response.status_code == 400


# --- consent --------------------------------------------------------------------------------


async def test_third_party_client_asks_consent_once_per_scope_set(server):
    await add_user(server)
    await add_web_client(server, "third", first_party=False)
    _, challenge = pkce_pair()
    first = await server.http.get(
        f"{server.issuer}/authorize", params=authorize_params("third", challenge)
    )
    asked = await login(server, first, "ada@example.test", PASSWORD)
    assert "/consent?" in asked.headers["location"]
    page = await server.http.get(asked.headers["location"])
    assert "third app" in page.text
    assert "data:read" in page.text
    granted = await consent(server, asked)
    assert "code" in location_params(granted)
    # Remembered: the same scopes again go straight to a code.
    again = await server.http.get(
        f"{server.issuer}/authorize", params=authorize_params("third", challenge)
    )
    assert "code" in location_params(again)
    # More scope → asked again; prompt=consent → asked even when remembered.
    more = await server.http.get(
        f"{server.issuer}/authorize",
        params=authorize_params("third", challenge, scope="openid data:write"),
    )
    assert "/consent?" in more.headers["location"]
    forced = await server.http.get(
        f"{server.issuer}/authorize", params=authorize_params("third", challenge, prompt="consent")
    )
    assert "/consent?" in forced.headers["location"]


async def test_denied_consent_goes_back_with_access_denied(server):
    await add_user(server)
    await add_web_client(server, "third", first_party=False)
    _, challenge = pkce_pair()
    params = authorize_params("third", challenge)
    first = await server.http.get(f"{server.issuer}/authorize", params=params)
    asked = await login(server, first, "ada@example.test", PASSWORD)
    denied = location_params(await consent(server, asked, decision="deny"))
    assert denied["error"] == "access_denied"
    assert denied["state"] == params["state"]
    assert denied["iss"] == server.issuer


async def test_consent_post_needs_csrf(server):
    await add_user(server)
    await add_web_client(server, "third", first_party=False)
    _, challenge = pkce_pair()
    first = await server.http.get(
        f"{server.issuer}/authorize", params=authorize_params("third", challenge)
    )
    asked = await login(server, first, "ada@example.test", PASSWORD)
    page = await server.http.get(asked.headers["location"])
    response = await server.http.post(
        f"{server.issuer}/consent",
        data={"interaction": hidden(page.text, "interaction"), "csrf": "x", "decision": "allow"},
    )
    assert response.status_code == 400
    assert "location" not in response.headers
