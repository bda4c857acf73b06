"""One real browser through the user flows: headless Chromium (Debian's, driven by Playwright)
against a real ``tessera serve`` and a loopback "client app" that receives the redirects.

login page (accessible by role, security headers) → code, state and ``iss`` at the client →
tokens over the back channel → one rotation → userinfo → RP-initiated logout back to the
client with ``state`` → the refresh family is dead and the SSO session is gone. Along the way:
the session cookie is HttpOnly, and no token ever reaches ``document.cookie``, storage or a
page.

Chromium or Playwright missing: skipped, except where ``CI`` is set: there it fails.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from required import CHROMIUM, require_browser
from served import TESSERA, Served, free_port, tessera_serve

API = "https://api.example.test"
EMAIL = "ada@example.test"
PASSWORD = "correct horse battery staple"
SCOPE = "openid profile email data:read"
SESSION_COOKIE = "tessera-session-default"  # loopback http: no __Host- prefix (no Secure)

pytestmark = pytest.mark.timeout(60)


def _playwright() -> Any:
    require_browser()
    from playwright.async_api import async_playwright  # noqa: PLC0415 - optional tool, checked just above

    return async_playwright


# --------------------------------------------------------------------- the client app


@dataclass
class ClientApp:
    """A loopback web app: it answers every GET with a small page and records the URL."""

    base: str
    seen: list[str] = field(default_factory=list)


@contextmanager
def client_app() -> Iterator[ClientApp]:
    port = free_port()
    app = ClientApp(f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            app.seen.append(self.path)
            body = b"<!doctype html><title>Client app</title><p>back at the client</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base name
            pass  # the URLs it would print carry codes

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield app
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# --------------------------------------------------------------------------- helpers


def _add_user(served: Served) -> None:
    done = subprocess.run(
        [str(TESSERA), "users", "add", EMAIL, "--tenant", "default", "--name", "Ada"],
        env=served.env,
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _authorize_url(issuer: str, redirect_uri: str, challenge: str, state: str) -> str:
    return f"{issuer}/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": "web",
            "redirect_uri": redirect_uri,
            "scope": SCOPE,
            "state": state,
            "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )


async def _visible_storage(page: Any) -> str:
    """What a script on the page can read: ``document.cookie`` and localStorage."""
    return str(
        await page.evaluate("() => JSON.stringify([document.cookie, Object.entries(localStorage)])")
    )


# ------------------------------------------------------------------------------ test


async def test_login_tokens_logout_in_chromium(tmp_path, secret_registry):
    async_playwright = _playwright()
    with (
        tessera_serve(
            tmp_path / "home",
            password_time_cost="1",
            password_memory_kib="8192",
            password_parallelism="1",
        ) as served,
        client_app() as app,
    ):
        callback, goodbye = f"{app.base}/cb", f"{app.base}/bye"
        secret = secret_registry(
            served.add_client(
                "web",
                *("--grant", "authorization_code", "--grant", "refresh_token"),
                *("--redirect-uri", callback, "--post-logout-redirect-uri", goodbye),
                *("--scope", SCOPE, "--audience", API, "--first-party"),
            )
        )
        _add_user(served)
        async with async_playwright() as pw, httpx.AsyncClient(timeout=10) as http:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            try:
                await _walk_through(browser, http, served, app, secret, secret_registry)
            finally:
                await browser.close()


async def _walk_through(
    browser: Any, http: httpx.AsyncClient, served: Served, app: ClientApp, secret: str, remember
) -> None:
    issuer = served.issuer
    callback, goodbye = f"{app.base}/cb", f"{app.base}/bye"
    metadata = (await http.get(f"{issuer}/.well-known/openid-configuration")).json()
    token_endpoint = metadata["token_endpoint"]
    context = await browser.new_context()
    page = await context.new_page()
    pages_html: list[str] = []

    # 1. /authorize → the login page, with its security headers and accessible form.
    verifier, challenge = _pkce()
    state = secrets.token_urlsafe(12)
    shown = await page.goto(_authorize_url(issuer, callback, challenge, state))
    assert shown is not None
    assert shown.status == 200
    assert page.url.startswith(f"{issuer}/login?interaction="), page.url
    headers = await shown.all_headers()
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert await page.title() == "Sign in · default"
    assert await page.get_by_role("heading", name="Sign in").count() == 1
    email, password = page.get_by_label("Email"), page.get_by_label("Password")
    assert await email.get_attribute("autocomplete") == "username"
    assert await password.get_attribute("type") == "password"
    pages_html.append(await page.content())

    # 2. Submit → 303 → the client's redirect URI with code, state and iss (RFC 9207).
    await email.fill(EMAIL)
    await password.fill(PASSWORD)

    def login_post(response: Any) -> bool:
        return bool(response.request.method == "POST" and response.url == f"{issuer}/login")

    async with page.expect_response(login_post) as submitted:
        await page.get_by_role("button", name="Sign in").click()
    answer = await submitted.value
    if answer.status != 303:
        await page.wait_for_load_state()
        said = await page.locator("main").inner_text()
        pytest.fail(f"the login form POST answered {answer.status}: {said!r}", pytrace=False)
    await page.wait_for_url(re.compile(rf"^{re.escape(callback)}\?"))
    got = _query(page.url)
    assert set(got) == {"code", "state", "iss"}, got
    assert got["state"] == state
    assert got["iss"] == issuer
    code = remember(got["code"])
    assert f"{urlsplit(page.url).path}?{urlsplit(page.url).query}" in app.seen
    pages_html.append(await page.content())

    cookies = {c["name"]: c for c in await context.cookies()}
    session = cookies[SESSION_COOKIE]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert all(c["httpOnly"] for c in cookies.values()), cookies.keys()

    # 3. The back channel: code + verifier → tokens; one rotation; userinfo.
    auth = ("web", secret)
    exchanged = await http.post(
        token_endpoint,
        auth=auth,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": callback,
            "code_verifier": verifier,
        },
    )
    assert exchanged.status_code == 200, exchanged.text
    first = exchanged.json()
    tokens = [remember(first[k]) for k in ("access_token", "refresh_token", "id_token")]
    rotated = await http.post(
        token_endpoint,
        auth=auth,
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
    )
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    tokens += [remember(second[k]) for k in ("access_token", "refresh_token", "id_token")]
    assert second["refresh_token"] != first["refresh_token"]
    userinfo = await http.get(
        metadata["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {second['access_token']}"},
    )
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json()["email"] == EMAIL

    # Nothing the client holds is readable by a script at the server's origin either.
    await page.goto(f"{issuer}/.well-known/openid-configuration")
    at_server = await _visible_storage(page)
    assert SESSION_COOKIE not in at_server  # HttpOnly: invisible to document.cookie
    for token in tokens:
        assert token not in at_server

    # 4. RP-initiated logout: straight back to the client, with state.
    bye_state = secrets.token_urlsafe(12)
    logout = f"{metadata['end_session_endpoint']}?" + urlencode(
        {
            "id_token_hint": second["id_token"],
            "post_logout_redirect_uri": goodbye,
            "state": bye_state,
        }
    )
    await page.goto(logout)
    await page.wait_for_url(re.compile(rf"^{re.escape(goodbye)}\?"))
    assert _query(page.url) == {"state": bye_state}
    pages_html.append(await page.content())
    at_client = await _visible_storage(page)
    assert SESSION_COOKIE not in {c["name"] for c in await context.cookies()}

    # The family is revoked by logout: the latest refresh token is dead.
    after = await http.post(
        token_endpoint,
        auth=auth,
        data={"grant_type": "refresh_token", "refresh_token": second["refresh_token"]},
    )
    assert after.status_code == 400, after.text
    assert after.json()["error"] == "invalid_grant"
    stale = await http.get(
        metadata["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {second['access_token']}"},
    )
    assert stale.status_code == 401, stale.text

    # 5. The SSO session ended: a new authorization asks for the password again.
    _, challenge = _pkce()
    again = await page.goto(_authorize_url(issuer, callback, challenge, "again"))
    assert again is not None
    assert again.status == 200
    assert page.url.startswith(f"{issuer}/login?interaction="), page.url
    assert await page.get_by_label("Password").count() == 1
    pages_html.append(await page.content())

    # No token in any page, readable storage or cookie the browser holds.
    cookie_values = json.dumps([c["value"] for c in await context.cookies()])
    for token in tokens:
        assert token not in at_client
        assert token not in cookie_values
        assert all(token not in html for html in pages_html)
    await context.close()
