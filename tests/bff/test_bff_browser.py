"""The BFF in a real headless Chromium, against real processes (issue 6 §4, SECURITY.md §10).

``tessera serve`` (user access tokens of 60 s, the minimum) ← ``tessera bff`` (refreshes 50 s
ahead, so a token older than 10 s is refreshed) → the example protected API and a test
upstream that streams 50 MiB. The demo SPA is driven by Chromium through login, an API call,
a refresh hidden from the page, cross-origin attacks from a sibling origin, a streamed
download and logout. The tests share one browser session, in file order; each can also run
alone (the module fixture signs in), except that logout ends the session.

Real time, not a fake clock: the processes are real, so the refresh test waits (~11 s) for
the access token to enter the refresh-ahead window.

Chromium or Playwright missing: skipped, except where ``CI`` is set: there it fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from required import CHROMIUM, require_browser
from served import TESSERA, Served, free_port, wait_healthy
from tessera.bff.session_manager import session_hash
from tessera.bff.session_store import SqliteSessionStore, TokenSealer
from tessera.bff.sessions import BffSession
from tessera.jose.b64 import b64url_encode

ROOT = Path(__file__).resolve().parents[2]
API = "https://api.example.test"
EMAIL = "ada@example.test"
PASSWORD = "correct horse battery staple"
SCOPE = "openid data:read"
COOKIE = "__Host-tessera-bff"
TOKEN_SHAPED = re.compile(
    r"eyJ[\w-]+\.[\w-]+\.[\w-]+|trt_[\w-]{16,}|tac_[\w-]{16,}|tat_[\w-]{16,}|tss_[\w-]{16,}"
)
READABLE = re.compile(r"json|html|javascript|text/")
CHUNK, CHUNKS = 256 * 1024, 200  # 50 MiB through the proxy
MIB = 1024 * 1024

pytestmark = pytest.mark.timeout(60)


def _sync_playwright() -> Any:
    require_browser()
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - optional tool, checked just above

    return sync_playwright


# ------------------------------------------------------------------------- processes


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextmanager
def _process(
    argv: list[str], env: dict[str, str], log: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process with stderr to ``log`` (or nowhere); stopped on exit."""
    with ExitStack() as stack:
        err: IO[bytes] | int = subprocess.DEVNULL
        if log is not None:
            err = stack.enter_context(log.open("wb"))
        process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
        stack.callback(_stop, process)
        yield process


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}


@contextmanager
def _tessera_serve(home: Path, log: Path) -> Iterator[Served]:
    """Like ``served.tessera_serve``, but its JSON log lines are kept (the audit events)."""
    env = _clean_env() | {
        "TESSERA_HOME": str(home),
        "TESSERA_ACCESS_TOKEN_TTL_USER": "60",
        "TESSERA_PASSWORD_TIME_COST": "1",
        "TESSERA_PASSWORD_MEMORY_KIB": "8192",
        "TESSERA_PASSWORD_PARALLELISM": "1",
        "TESSERA_LOG_LEVEL": "info",
    }
    port = free_port()
    with _process([str(TESSERA), "serve", "--port", str(port)], env, log) as process:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(f"{base}/healthz", process)
        yield Served(base, env)


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


# ------------------------------------------------------------ the streaming upstream


@dataclass
class BigUpstream:
    """50 MiB in 256 KiB chunks, ~10 ms apart: slow enough to see bytes arrive early."""

    base: str
    authorization: str = ""
    calls: int = 0
    finished_at: float | None = None

    def app(self) -> Starlette:
        async def stream(request: Request) -> Response:
            self.authorization = request.headers.get("authorization", "")
            self.calls += 1
            count = int(request.query_params.get("chunks", CHUNKS))

            async def chunks() -> AsyncIterator[bytes]:
                for i in range(count):
                    yield bytes([65 + i % 26]) * CHUNK
                    await asyncio.sleep(0.01)
                self.finished_at = time.monotonic()

            return StreamingResponse(chunks(), media_type="application/octet-stream")

        return Starlette(routes=[Route("/stream", stream)])


@contextmanager
def _big_upstream() -> Iterator[BigUpstream]:
    port = free_port()
    upstream = BigUpstream(f"http://127.0.0.1:{port}")
    config = uvicorn.Config(
        upstream.app(),
        host="127.0.0.1",
        port=port,
        log_config=None,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the streaming upstream did not start"
        time.sleep(0.05)
    try:
        yield upstream
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# ------------------------------------------------------------------ the evil origin

_PROBE = """<!doctype html><title>evil</title><pre id="out"></pre><script>
const BFF = "%(bff)s", out = {};
async function attempt(name, url, init) {
  try {
    const r = await fetch(url, init);
    let body = null;
    try { body = await r.text(); } catch (e) { body = "unreadable: " + e; }
    out[name] = {fetched: true, type: r.type, status: r.status, body: body};
  } catch (e) {
    out[name] = {fetched: false, error: String(e)};
  }
}
const post = {method: "POST", credentials: "include", body: "{}",
              headers: {"Content-Type": "application/json", "X-CSRF-Token": "guess"}};
(async () => {
  await attempt("read", BFF + "/api/data/me", {credentials: "include"});
  await attempt("read_no_cors", BFF + "/api/data/me", {credentials: "include", mode: "no-cors"});
  await attempt("read_big", BFF + "/api/big/stream?chunks=1", {credentials: "include"});
  await attempt("post_api", BFF + "/api/data/me", post);
  await attempt("post_logout", BFF + "/bff/logout", post);
  const el = document.getElementById("out");
  el.textContent = JSON.stringify(out);
  el.dataset.done = "1";
})();
</script>"""

_FORM = """<!doctype html><title>evil form</title>
<form method="post" enctype="text/plain" action="%(bff)s%(path)s">
<input type="hidden" name='{"x":"' value='y"}'></form>
<script>document.forms[0].submit();</script>"""


@contextmanager
def _evil_site(bff: str) -> Iterator[str]:
    """Another loopback port: same site as the BFF (ports do not count), other origin."""
    pages = {
        "/probe": _PROBE % {"bff": bff},
        "/form-logout": _FORM % {"bff": bff, "path": "/bff/logout"},
        "/form-api": _FORM % {"bff": bff, "path": "/api/data/me"},
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            page = pages.get(self.path)
            body = (page or "not here").encode()
            self.send_response(200 if page else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base name
            pass

    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# ---------------------------------------------------------------------- the stack


@dataclass
class Stack:
    served: Served
    secret: str
    bff: str
    bff_pid: int
    bff_log: Path
    server_log: Path
    store_path: Path
    session_key: bytes
    big: BigUpstream
    evil: str

    def bff_events(self, event: str) -> list[dict[str, Any]]:
        return _events(self.bff_log, event)

    def server_events(self, event: str) -> list[dict[str, Any]]:
        return _events(self.server_log, event)

    def stored_session(self, cookie_value: str) -> BffSession | None:
        """Reads the BFF's own store (test-only: the tokens never leave the BFF otherwise)."""

        async def read() -> BffSession | None:
            store = SqliteSessionStore(self.store_path, TokenSealer(self.session_key))
            try:
                return await store.get_session(session_hash(cookie_value), now=time.time())
            finally:
                await store.close()

        with ThreadPoolExecutor(1) as pool:  # no event loop may run beside Playwright's
            return pool.submit(asyncio.run, read()).result(timeout=10)


def _events(log: Path, event: str) -> list[dict[str, Any]]:
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    found = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == event:
            found.append(record)
    return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("bff-browser")
    bff_port, api_port = free_port(), free_port()
    bff = f"http://127.0.0.1:{bff_port}"
    with ExitStack() as stack:
        served = stack.enter_context(_tessera_serve(tmp / "home", tmp / "serve.log"))
        _add_user(served)
        secret = served.add_client(
            "bff",
            *("--grant", "authorization_code", "--grant", "refresh_token"),
            *("--redirect-uri", f"{bff}/bff/callback", "--post-logout-redirect-uri", f"{bff}/"),
            *("--scope", SCOPE, "--audience", API, "--first-party"),
        )
        api_env = _clean_env() | {"TESSERA_ISSUER": served.issuer, "TESSERA_AUDIENCE": API}
        argv = [sys.executable, "-m", "uvicorn", "examples.protected_api.app:create_app"]
        argv += ["--factory", "--port", str(api_port), "--log-level", "warning"]
        api = stack.enter_context(_process(argv, api_env))
        wait_healthy(f"http://127.0.0.1:{api_port}/healthz", api)
        big = stack.enter_context(_big_upstream())
        key = secrets.token_bytes(32)
        upstreams = {"data": f"http://127.0.0.1:{api_port}", "big": big.base}
        bff_env = _clean_env() | {
            "TESSERA_BFF_ISSUER": served.issuer,
            "TESSERA_BFF_CLIENT_ID": "bff",
            "TESSERA_BFF_CLIENT_SECRET": secret,
            "TESSERA_BFF_PUBLIC_URL": bff,
            "TESSERA_BFF_PORT": str(bff_port),
            "TESSERA_BFF_SCOPE": SCOPE,
            "TESSERA_BFF_UPSTREAMS": json.dumps(upstreams),
            "TESSERA_BFF_HOME": str(tmp / "bff"),
            "TESSERA_BFF_SESSION_KEY": b64url_encode(key),
            "TESSERA_BFF_REFRESH_AHEAD": "50",
            "TESSERA_BFF_LOG_LEVEL": "info",
        }
        bff_log = tmp / "bff.log"
        process = stack.enter_context(_process([str(TESSERA), "bff"], bff_env, bff_log))
        wait_healthy(f"{bff}/bff/session", process)
        evil = stack.enter_context(_evil_site(bff))
        yield Stack(
            served=served,
            secret=secret,
            bff=bff,
            bff_pid=process.pid,
            bff_log=bff_log,
            server_log=tmp / "serve.log",
            store_path=tmp / "bff" / "sessions.db",
            session_key=key,
            big=big,
            evil=evil,
        )


# ----------------------------------------------------------------- the browser side


@dataclass
class Browser:
    context: Any
    page: Any
    urls: list[str] = field(default_factory=list)
    bodies: list[tuple[str, str]] = field(default_factory=list)
    responses: list[tuple[str, str, int]] = field(default_factory=list)
    signed_in_at: float = 0.0
    callback_location: str | None = None

    def cookie(self) -> dict[str, Any]:
        return {c["name"]: c for c in self.context.cookies()}[COOKIE]

    def status(self, page: Any = None) -> str:
        return str((page or self.page).locator("#status").inner_text())


def _record(browser: Browser, response: Any) -> None:
    request = response.request
    browser.responses.append((request.method, response.url, response.status))
    if response.url.endswith("/bff/callback") or "/bff/callback?" in response.url:
        browser.callback_location = response.headers.get("location")
    kind = response.headers.get("content-type", "")
    if 300 <= response.status < 400 or request.method == "OPTIONS" or not READABLE.search(kind):
        return
    try:
        browser.bodies.append((response.url, response.text()))
    except Exception as exc:  # noqa: BLE001 - Playwright's error type; keep what we know
        browser.bodies.append((response.url, f"<unreadable: {type(exc).__name__}>"))


@pytest.fixture(scope="module")
def browser(stack) -> Iterator[Browser]:
    """One Chromium, one context; the module signs in once through the SPA."""
    sync_playwright = _sync_playwright()
    from playwright.sync_api import expect  # noqa: PLC0415 - optional tool

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = chromium.new_context()
            context.set_default_timeout(15_000)
            page = context.new_page()
            seen = Browser(context, page)
            context.on("request", lambda request: seen.urls.append(request.url))
            context.on("response", lambda response: _record(seen, response))

            page.goto(f"{stack.bff}/")
            expect(page.locator("#status")).to_have_text("Signed out")
            page.locator("#login").click()
            page.wait_for_url(re.compile(rf"^{re.escape(stack.served.issuer)}/login\?"))
            page.get_by_label("Email").fill(EMAIL)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{stack.bff}/")
            expect(page.locator("#status")).to_have_text("Signed in")
            seen.signed_in_at = time.monotonic()
            yield seen
            context.close()
        finally:
            chromium.close()


# ------------------------------------------------------------------------------ tests


def test_login_leaves_only_an_opaque_httponly_cookie_in_the_browser(stack, browser):
    page = browser.page
    assert page.url == f"{stack.bff}/"
    assert urlsplit(page.url).query == ""
    assert browser.callback_location == "/"  # the callback's 303: no code, no state
    assert page.locator("#status").get_attribute("data-state") == "signed-in"
    assert page.locator("#subject").inner_text() != ""

    visible = page.evaluate("() => [document.cookie, localStorage.length, sessionStorage.length]")
    assert visible == ["", 0, 0]

    # Cookies ignore ports: the authorization server's (127.0.0.1 too) share the jar.
    cookies = {c["name"]: c for c in browser.context.cookies()}
    assert {n for n in cookies if n.startswith("__Host-")} == {COOKIE}  # pre-login: gone
    assert all(c["httpOnly"] for c in cookies.values()), cookies.keys()
    session = cookies[COOKIE]
    assert session["httpOnly"] is True
    assert session["secure"] is True
    assert session["sameSite"] == "Lax"
    assert session["path"] == "/"
    assert session["domain"] == "127.0.0.1"  # host-only: no Domain attribute
    assert not TOKEN_SHAPED.search(session["value"])
    assert not any(mark in session["value"] for mark in ("eyJ", "trt_", "tac_", "tss_"))

    # Every body a page could read, at the BFF and at the authorization server.
    assert any(url.startswith(stack.bff) for url, _ in browser.bodies)
    for url, body in browser.bodies:
        assert not TOKEN_SHAPED.search(body), f"a token-shaped string in the body of {url}"
        assert "<unreadable" not in body, url

    # URLs: the one front-channel code (RFC 6749 §4.1.2) at /bff/callback, nothing else.
    shaped = [(url, TOKEN_SHAPED.findall(url)) for url in browser.urls if TOKEN_SHAPED.search(url)]
    assert len(shaped) == 1, [u for u, _ in shaped]
    url, found = shaped[0]
    assert url.startswith(f"{stack.bff}/bff/callback?")
    assert [f[:4] for f in found] == ["tac_"]


def test_call_api_shows_subject_and_reports(browser):
    page = browser.page
    page.locator("#call-api").click()
    result = page.locator("#result")
    page.wait_for_function(
        "() => document.getElementById('result').textContent.trim().startsWith('{')"
    )
    shown = json.loads(result.inner_text())
    subject = page.locator("#subject").inner_text()
    assert shown["me"]["sub"] == subject
    assert shown["me"]["client_id"] == "bff"
    assert "data:read" in shown["me"]["scope"]
    assert shown["reports"] == {"tenant": "default", "reports": [{"id": 1, "title": "Q4"}]}
    assert page.locator("#error").inner_text() == ""


def test_expiry_is_invisible_and_concurrent_calls_share_one_refresh(stack, browser):
    # The 60 s token is refreshed once older than 10 s (refresh_ahead=50).
    time.sleep(max(0.0, browser.signed_in_at + 11.5 - time.monotonic()))
    refreshed_before = len(stack.bff_events("bff.refreshed"))
    rotations_before = _refresh_grants(stack)

    answers = browser.page.evaluate(
        """() => Promise.all([0, 1, 2, 3, 4].map(() =>
             fetch("/api/data/me", {headers: {Accept: "application/json"}})
               .then(async r => [r.status, await r.json()])))"""
    )

    subject = browser.page.locator("#subject").inner_text()
    assert [status for status, _ in answers] == [200] * 5
    assert all(body["sub"] == subject for _, body in answers)
    _settle()
    assert len(stack.bff_events("bff.refreshed")) == refreshed_before + 1
    assert _refresh_grants(stack) == rotations_before + 1  # one refresh at the server too
    assert browser.status() == "Signed in"


def _refresh_grants(stack: Stack) -> int:
    issued = stack.server_events("token.issued")
    return sum(1 for e in issued if e.get("grant_type") == "refresh_token")


def _settle() -> None:
    """The processes write their logs from a background thread; give them a moment."""
    time.sleep(0.5)


def test_a_sibling_origin_can_neither_read_nor_change_anything(stack, browser):
    evil = browser.context.new_page()
    calls, stack.big.authorization = stack.big.calls, ""
    try:
        evil.goto(f"{stack.evil}/probe")
        evil.wait_for_function("() => document.getElementById('out').dataset.done === '1'")
        out = json.loads(evil.locator("#out").inner_text())

        # (a) CORS: the script reads nothing, though the cookie WAS sent (same site, Lax):
        # the BFF proxied the GET with the session's token; only CORS keeps the answer.
        for name in ("read", "read_big"):
            assert out[name]["fetched"] is False, out[name]
            assert "TypeError" in out[name]["error"]
        assert out["read_no_cors"] == {"fetched": True, "type": "opaque", "status": 0, "body": ""}
        assert stack.big.calls == calls + 1
        assert stack.big.authorization.startswith("Bearer eyJ")

        # (b) The preflight is refused; the POSTs themselves never leave the browser.
        for name in ("post_api", "post_logout"):
            assert out[name]["fetched"] is False, out[name]
        assert not [u for m, u, _ in browser.responses if m == "POST" and stack.bff in u]
        # (Playwright does not surface preflights; the same one, asked directly:)
        for path in ("/api/data/me", "/bff/logout"):
            preflight = httpx.options(
                stack.bff + path,
                headers={
                    "Origin": stack.evil,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type,x-csrf-token",
                },
            )
            assert preflight.status_code == 403
            assert not [h for h in preflight.headers if h.startswith("access-control-")]

        # (c) Simple (text/plain) form POSTs: refused on their foreign Origin.
        for path in ("/bff/logout", "/api/data/me"):
            with evil.expect_response(
                lambda r, path=path: r.request.method == "POST" and r.url == stack.bff + path
            ) as info:
                evil.goto(f"{stack.evil}/form-{'logout' if 'logout' in path else 'api'}")
            answer = info.value
            assert answer.status == 403, (path, answer.status)
            assert answer.json() == {"error": "origin_refused"}
            assert answer.request.headers["content-type"].startswith("text/plain")
    finally:
        evil.close()
    assert not any(
        m == "POST" and s < 300 for m, u, s in browser.responses if u.startswith(stack.bff)
    )

    # Nothing changed: the SPA is still signed in after a reload.
    browser.page.reload()
    browser.page.wait_for_function(
        "() => document.getElementById('status').dataset.state === 'signed-in'"
    )
    assert browser.status() == "Signed in"


def test_the_proxy_streams_without_buffering(stack, browser):
    url = f"{stack.bff}/api/big/stream"
    headers = {"Cookie": f"{COOKIE}={browser.cookie()['value']}"}
    with httpx.Client(timeout=30, headers=headers) as http:
        warm = http.get(url, params={"chunks": "1"})  # connection pools, a due refresh
        assert warm.status_code == 200
        assert len(warm.content) == CHUNK
        stack.big.finished_at = None
        before = _rss(stack.bff_pid)
        peak, size, first_at = before, 0, None
        with http.stream("GET", url) as response:
            assert response.status_code == 200
            assert "content-length" not in response.headers  # chunked all the way
            for chunk in response.iter_raw():
                if first_at is None:
                    first_at = time.monotonic()
                    assert stack.big.finished_at is None, "the BFF waited for the whole body"
                size += len(chunk)
                peak = max(peak, _rss(stack.bff_pid))
    assert size == CHUNKS * CHUNK
    assert first_at is not None
    assert stack.big.finished_at is not None
    assert first_at < stack.big.finished_at
    assert stack.big.authorization.startswith("Bearer eyJ")
    assert peak - before < 20 * MIB, f"the BFF grew by {(peak - before) / MIB:.1f} MiB"


def _rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    match = re.search(r"^VmRSS:\s+(\d+) kB$", status, re.MULTILINE)
    assert match, status
    return int(match.group(1)) * 1024


def test_logout_ends_the_session_here_and_the_refresh_family_at_the_server(
    stack, browser, secret_registry
):
    from playwright.sync_api import expect  # noqa: PLC0415 - optional tool

    old = browser.cookie()["value"]
    held = stack.stored_session(old)
    assert held is not None
    assert held.tokens.refresh_token is not None
    refresh_token = secret_registry(held.tokens.refresh_token)
    revoked_before = len(stack.server_events("token.revoked"))

    page = browser.page
    page.locator("#logout").click()
    expect(page.locator("#status")).to_have_text("Signed out")
    assert page.locator("#status").get_attribute("data-state") == "signed-out"
    href = page.locator("#idp-logout").get_attribute("href")
    assert href is not None
    assert href.startswith(f"{stack.served.issuer}/")
    query = parse_qs(urlsplit(href).query)
    assert "id_token_hint" not in query
    assert query == {"client_id": ["bff"], "post_logout_redirect_uri": [f"{stack.bff}/"]}
    assert COOKIE not in {c["name"] for c in browser.context.cookies()}

    # The old cookie, replayed: no session.
    replay = {"Cookie": f"{COOKIE}={old}"}
    assert httpx.get(f"{stack.bff}/api/data/me", headers=replay).status_code == 401
    assert httpx.get(f"{stack.bff}/bff/session", headers=replay).json() == {"authenticated": False}
    assert stack.stored_session(old) is None

    # At the server: the family is revoked (audited), and its latest refresh token is dead.
    _settle()
    revoked = stack.server_events("token.revoked")[revoked_before:]
    assert [(e.get("client_id"), e.get("token_type")) for e in revoked] == [
        ("bff", "refresh_token")
    ]
    dead = httpx.post(
        f"{stack.served.issuer}/token",
        auth=("bff", secret_registry(stack.secret)),
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
    )
    assert dead.status_code == 400, dead.text
    assert dead.json()["error"] == "invalid_grant"


def test_no_process_logged_a_token_or_secret(stack):
    for log in (stack.bff_log, stack.server_log):
        text = log.read_text(encoding="utf-8", errors="replace")
        assert text.strip(), f"{log.name} is empty"
        assert not TOKEN_SHAPED.search(text), log.name
        assert stack.secret not in text, log.name
