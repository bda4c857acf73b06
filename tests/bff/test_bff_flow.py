"""The BFF end to end, in-process (SECURITY.md §10): login, session, proxy, refresh, logout."""

from __future__ import annotations

import asyncio
import re

import pytest

from conftest import BFF, PUBLIC_URL

ORIGIN = {"Origin": BFF}


def _cookie_lines(response) -> list[str]:
    return [v for k, v in response.headers.multi_items() if k == "set-cookie"]


async def _csrf(env) -> str:
    return (await env.session())["csrf"]


async def test_login_sets_only_an_opaque_host_cookie_and_lands_on_a_code_free_url(env):
    back = await env.login()
    assert back.status_code == 303
    assert back.headers["location"] == "/app"  # return_to, without code or state
    lines = _cookie_lines(back)
    session = next(c for c in lines if c.startswith("__Host-tessera-bff="))
    for flag in ("HttpOnly", "Secure", "Path=/", "SameSite=lax"):
        assert flag in session
    assert "Domain" not in session
    value = session.split(";", 1)[0].split("=", 1)[1]
    assert not value.startswith(("eyJ", "trt_", "tat_"))
    body = await env.session()
    assert body["authenticated"] is True
    assert set(body) == {"authenticated", "sub", "expires_at", "csrf"}
    for token_like in re.findall(r"eyJ[\w-]+|trt_[\w-]+|tac_[\w-]+", str(body)):
        pytest.fail(f"a token reached the browser: {token_like[:8]}")


async def test_proxy_attaches_the_access_token_and_drops_upstream_cookies(env):
    await env.login()
    response = await env.browser.get(f"{BFF}/api/data/me")
    assert response.status_code == 200, response.text
    assert response.json()["sub"] == (await env.session())["sub"]
    assert env.upstream.last_authorization.startswith("Bearer eyJ")
    assert "set-cookie" not in response.headers
    # Only allowlisted headers go upstream: never the browser's cookies or its Origin.
    sent = env.upstream.last_headers
    assert "cookie" not in sent
    assert "x-forwarded-host" not in sent
    evil = await env.browser.get(
        f"{BFF}/api/data/me", headers={"X-Forwarded-Host": "evil.test", "Host": "evil.test"}
    )
    assert evil.status_code in (200, 400, 404)
    assert "evil.test" not in str(env.upstream.last_headers)


async def test_proxy_passes_large_responses_through(env):
    """Byte-exact; that it streams (never buffers whole) needs real sockets: see
    test_bff_served.py. In-process, httpx's ASGI transport buffers by itself."""
    await env.login()
    async with env.browser.stream("GET", f"{BFF}/api/data/big") as response:
        assert response.status_code == 200
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
    assert size == 2000 * (8 * 128 + 1)


async def test_state_changes_need_origin_and_csrf_token(env):
    await env.login()
    csrf = await _csrf(env)
    url = f"{BFF}/api/data/me"
    ok = await env.browser.post(url, json={"a": 1}, headers={**ORIGIN, "X-CSRF-Token": csrf})
    assert ok.status_code == 200
    cases = [
        ({"X-CSRF-Token": csrf}, 403),  # no Origin
        ({"Origin": "null", "X-CSRF-Token": csrf}, 403),
        ({"Origin": "https://evil.test", "X-CSRF-Token": csrf}, 403),
        ({"Origin": "https://sub.bff.example.test", "X-CSRF-Token": csrf}, 403),
        ({**ORIGIN}, 403),  # no token
        ({**ORIGIN, "X-CSRF-Token": "A" * 43}, 403),
        ({**ORIGIN, "X-CSRF-Token": csrf, "X-HTTP-Method-Override": "DELETE"}, 400),
    ]
    calls = env.upstream.calls
    for headers, status in cases:
        response = await env.browser.post(url, json={"a": 1}, headers=headers)
        assert response.status_code == status, (headers, response.text)
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        response = await env.browser.post(
            url, content=b"a=1", headers={**ORIGIN, "X-CSRF-Token": csrf, "Content-Type": ctype}
        )
        assert response.status_code == 415
    assert env.upstream.calls == calls  # none of them reached the API


async def test_cors_is_closed_and_never_reflects_an_origin(env):
    await env.login()
    response = await env.browser.get(f"{BFF}/api/data/me", headers={"Origin": "https://evil.test"})
    assert "access-control-allow-origin" not in response.headers
    preflight = await env.browser.options(
        f"{BFF}/api/data/me",
        headers={"Origin": "https://evil.test", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers


@pytest.mark.parametrize(
    "path",
    [
        "/api/other/me",
        "/api/data/../me",
        "/api/data/%2e%2e/me",
        "/api/data/a%2fb",
        "/api/data//evil.test/me",
        "/api/data/me%5c..",
        "/api/data/me?access_token=x",
    ],
)
async def test_proxy_reaches_only_allowlisted_upstreams_by_plain_paths(env, path):
    await env.login()
    calls = env.upstream.calls
    response = await env.browser.get(f"{BFF}{path}")
    assert response.status_code in (400, 404), (path, response.status_code)
    assert env.upstream.calls == calls


async def test_without_a_session_the_proxy_answers_401(env):
    response = await env.browser.get(f"{BFF}/api/data/me")
    assert response.status_code == 401
    assert (await env.session()) == {"authenticated": False}


async def test_duplicate_or_unprefixed_session_cookies_are_ignored(env):
    await env.login()
    value = env.browser.cookies.get("__Host-tessera-bff")
    raw = {"Cookie": f"__Host-tessera-bff={value}; __Host-tessera-bff=planted"}
    env.browser.cookies.clear()
    response = await env.browser.get(f"{BFF}/api/data/me", headers=raw)
    assert response.status_code == 401
    response = await env.browser.get(
        f"{BFF}/api/data/me", headers={"Cookie": f"tessera-bff={value}"}
    )
    assert response.status_code == 401
    response = await env.browser.get(
        f"{BFF}/api/data/me", headers={"Cookie": f"__Host-tessera-bff={value}"}
    )
    assert response.status_code == 200


async def test_expiry_is_refreshed_server_side_once_for_concurrent_calls(env):
    await env.login()
    env.upstream.tokens_seen = set()
    first = await env.browser.get(f"{BFF}/api/data/me")
    assert first.status_code == 200
    env.clock.advance(env.server.ctx.settings.access_token_ttl_user - 30)  # within refresh_ahead
    answers = await asyncio.gather(*(env.browser.get(f"{BFF}/api/data/me") for _ in range(10)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    # One refresh: the ten calls after it all used the same new access token.
    assert len(env.upstream.tokens_seen) == 2
    # And the family was not treated as reuse: one more refresh later still works.
    env.clock.advance(env.server.ctx.settings.access_token_ttl_user)
    assert (await env.browser.get(f"{BFF}/api/data/me")).status_code == 200


async def test_logout_ends_the_session_and_revokes_the_family(env):
    await env.login()
    value = env.browser.cookies.get("__Host-tessera-bff")
    csrf = await _csrf(env)
    forged = await env.browser.post(f"{BFF}/bff/logout", headers={"Origin": BFF})
    assert forged.status_code == 403
    response = await env.browser.post(f"{BFF}/bff/logout", headers={**ORIGIN, "X-CSRF-Token": csrf})
    assert response.status_code == 200
    body = response.json()
    assert body["logged_out"] is True
    assert "id_token_hint" not in body["end_session_url"]
    assert body["end_session_url"].startswith(f"{PUBLIC_URL}/t/default/logout?")
    # A replay of the old cookie gets 401, and the refresh family is revoked at the server.
    replay = await env.browser.get(
        f"{BFF}/api/data/me", headers={"Cookie": f"__Host-tessera-bff={value}"}
    )
    assert replay.status_code == 401
    families = await env.server.ctx.store.families_of_session("default", "x")
    assert families == []


@pytest.mark.parametrize("tamper", ["state", "no_cookie", "replay", "iss"])
async def test_callback_refuses_foreign_replayed_or_cookieless_responses(env, tamper):
    start = await env.browser.get(f"{BFF}/bff/login")
    first = await env.browser.get(start.headers["location"])
    page = await env.browser.get(first.headers["location"])
    fields = dict(re.findall(r'name="(interaction|csrf)" value="([^"]*)"', page.text))
    done = await env.browser.post(
        f"{PUBLIC_URL}/t/default/login",
        data={**fields, "email": "ada@example.test", "password": "correct horse battery staple"},
    )
    callback = done.headers["location"]
    if tamper == "state":
        callback = re.sub(r"state=[^&]+", "state=forged", callback)
    elif tamper == "iss":
        callback = re.sub(r"iss=[^&]+", "iss=https%3A%2F%2Fevil.test", callback)
    elif tamper == "no_cookie":
        env.browser.cookies.delete("__Host-tessera-bff-login")
    elif tamper == "replay":
        assert (await env.browser.get(callback)).status_code == 303
        env.browser.cookies.delete("__Host-tessera-bff")
    response = await env.browser.get(callback)
    assert response.status_code == 400, response.text
    assert "__Host-tessera-bff=" not in "".join(
        c
        for c in _cookie_lines(response)
        if not c.startswith("__Host-tessera-bff=;") and "Max-Age=0" not in c
    )
    assert (await env.session()) == {"authenticated": False} or tamper == "replay"


async def test_return_to_cannot_leave_the_origin(env):
    for target in ("https://evil.test/", "//evil.test/", "/\\evil.test"):
        start = await env.browser.get(f"{BFF}/bff/login", params={"return_to": target})
        assert start.status_code == 303
        pending = start.headers["location"]
        assert "evil.test" not in pending


async def test_pages_are_framed_off_and_scripts_are_same_origin(env):
    response = await env.browser.get(f"{BFF}/")
    assert response.status_code == 200
    assert response.headers["x-frame-options"] == "DENY"
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'self'" in csp
    assert "<script src=" in response.text


async def test_idle_and_absolute_timeouts_end_the_session(env):
    await env.login()
    env.clock.advance(env.settings.session_idle_ttl - 5)
    assert (await env.session())["authenticated"] is True  # activity moves the idle end
    env.clock.advance(env.settings.session_idle_ttl + 1)
    assert await env.session() == {"authenticated": False}
    await env.login()
    for _ in range(env.settings.session_absolute_ttl // (env.settings.session_idle_ttl - 60) + 2):
        env.clock.advance(env.settings.session_idle_ttl - 60)
        if not (await env.session())["authenticated"]:
            break
    assert await env.session() == {"authenticated": False}


async def test_logout_is_post_only(env):
    await env.login()
    response = await env.browser.get(f"{BFF}/bff/logout")
    assert response.status_code in (404, 405)
    assert (await env.session())["authenticated"] is True


async def test_a_failing_session_store_is_a_503_not_a_500(env):
    await env.login()
    await env.app.state.bff.sessions.store.close()
    for response in (
        await env.browser.get(f"{BFF}/bff/session"),
        await env.browser.get(f"{BFF}/api/data/me"),
        await env.browser.get(f"{BFF}/bff/login"),
    ):
        assert response.status_code == 503, response.text
        assert response.json() == {"error": "session_store_unavailable"}
