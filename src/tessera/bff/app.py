"""The BFF application: ``/bff/login``, ``/bff/callback``, ``/bff/logout``, ``/bff/session``,
the ``/api/{upstream}/…`` proxy, and the demo single-page app at ``/``.

The browser never receives a token: not in a cookie (the cookie is an opaque session id),
not in a response body (``/bff/session`` says who and until when), not in a URL (the
callback answers 303 to a code-free URL; logout at the authorization server is asked for
WITHOUT ``id_token_hint``).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable
from importlib.resources import files
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tessera.bff.config import BffSettings
from tessera.bff.guards import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Refused,
    check_state_change,
    cors_headers,
    csrf_token,
    read_cookie,
    set_cookie,
)
from tessera.bff.oauth import LoginRefused, OAuthClient, TokenSet, pkce_pair
from tessera.bff.proxy import proxy_endpoint
from tessera.bff.session_manager import Sessions, session_hash
from tessera.bff.session_store import TokenSealer, open_session_store
from tessera.bff.sessions import BffSession, PendingLogin, SessionStore, SessionTokens
from tessera.bff.state import BffState
from tessera.errors import FetchError, StorageError, TesseraError
from tessera.jose.b64 import b64url_decode
from tessera.jose.claims import Claims
from tessera.keys.sealing import load_or_create_secret_file
from tessera.secret import Secret, constant_time_equals
from tessera.server.responses import NO_STORE, json_response
from tessera.server.server_keys import ServerKeys

__all__ = ["build_bff_app", "create_bff_app"]

# The SPA's pages: scripts and styles from our own origin only, never framed.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
        "object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: under it browsers send `Origin: null` on same-origin POSTs, and the
    # BFF's CSRF rules need the real origin. No URL here ever holds a token or a code.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _state(request: Request) -> BffState:
    state: BffState = request.app.state.bff
    return state


def _local_path(value: str | None) -> str:
    """``return_to`` may only be a path on this origin: no open redirect."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(c in value for c in "\\\r\n\t") or len(value) > 512:
        return "/"
    return value


async def login_endpoint(request: Request) -> Response:
    """Start code + PKCE; state, nonce and verifier stay server-side, bound to a cookie."""
    state = _state(request)
    now = state.clock()
    verifier, challenge = pkce_pair()
    login_id = secrets.token_urlsafe(32)
    pending = PendingLogin(
        login_hash=session_hash(login_id),
        state=secrets.token_urlsafe(24),
        nonce=secrets.token_urlsafe(24),
        code_verifier=verifier,
        return_to=_local_path(request.query_params.get("return_to")),
        expires_at=now + state.settings.login_ttl,
    )
    await state.sessions.store.put_pending(pending)
    target = state.oauth.authorization_url(
        state=pending.state, nonce=pending.nonce, challenge=challenge
    )
    response = RedirectResponse(target, status_code=303, headers=dict(NO_STORE))
    set_cookie(response, state.settings, LOGIN_COOKIE, login_id, state.settings.login_ttl)
    return response


async def _pending_login(state: BffState, request: Request) -> PendingLogin:
    """SECURITY.md §10: this browser's pre-login cookie, single use, with the same state."""
    login_id = read_cookie(request.headers, LOGIN_COOKIE)
    if login_id is None:
        raise Refused(400, "login_not_started")
    pending = await state.sessions.store.take_pending(session_hash(login_id), now=state.clock())
    if pending is None:
        raise Refused(400, "login_expired")
    got = request.query_params.get("state", "")
    if not constant_time_equals(got, pending.state):
        raise Refused(400, "state_mismatch")
    # RFC 9207 §2.4: the response must come from the issuer we sent the user to.
    if request.query_params.get("iss") != state.settings.issuer:
        raise Refused(400, "issuer_mismatch")
    if "error" in request.query_params:
        raise Refused(400, "login_declined")
    return pending


async def _redeem(
    state: BffState, request: Request, pending: PendingLogin, now: float
) -> tuple[TokenSet, Claims]:
    """The code for tokens (with our PKCE verifier), then the ID token and our nonce."""
    code = request.query_params.get("code")
    if not code:
        raise Refused(400, "code_missing")
    tokens = await state.oauth.exchange(code, pending.code_verifier, now)
    if tokens.id_token is None:
        raise Refused(502, "id_token_missing")
    claims = await state.oauth.verify_id_token(tokens.id_token, pending.nonce, now)
    return tokens, claims


async def callback_endpoint(request: Request) -> Response:
    state = _state(request)
    now = state.clock()
    try:
        pending = await _pending_login(state, request)
        tokens, claims = await _redeem(state, request, pending, now)
    except Refused as exc:
        return _clear_login(state.error(request, exc.status, exc.error), state)
    except LoginRefused:
        return _clear_login(state.error(request, 400, "login_refused"), state)
    except FetchError:
        return _clear_login(state.error(request, 502, "authorization_server_unavailable"), state)
    except TesseraError:
        return _clear_login(state.error(request, 400, "id_token_invalid"), state)
    # A NEW session id at every login (no fixation); an older session of this browser ends.
    previous = await state.sessions.current(request)
    if previous is not None:
        await state.sessions.store.delete_session(previous.session_hash)
    value = secrets.token_urlsafe(32)
    session = BffSession(
        session_hash=session_hash(value),
        subject=claims.subject or "",
        tokens=SessionTokens(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            id_token=tokens.id_token,
            access_expires_at=tokens.expires_at,
        ),
        created_at=now,
        last_seen=now,
        expires_at=now + state.settings.session_absolute_ttl,
    )
    await state.sessions.store.put_session(session)
    response = RedirectResponse(pending.return_to, status_code=303, headers=dict(NO_STORE))
    set_cookie(response, state.settings, SESSION_COOKIE, value, state.settings.session_absolute_ttl)
    return _clear_login(response, state)


def _clear_login(response: Response, state: BffState) -> Response:
    set_cookie(response, state.settings, LOGIN_COOKIE, "", 0)
    return response


async def session_endpoint(request: Request) -> Response:
    """Who is logged in and until when — never a token."""
    state = _state(request)
    session = await state.sessions.current(request)
    headers = cors_headers(request, state.settings)
    if session is None:
        return json_response({"authenticated": False}, headers=headers)
    body = {
        "authenticated": True,
        "sub": session.subject,
        "expires_at": int(state.sessions.idle_end(session)),
        "csrf": csrf_token(state.keys, session.session_hash),
    }
    return json_response(body, headers=headers)


async def logout_endpoint(request: Request) -> Response:
    """End the BFF session and revoke the refresh family at the authorization server."""
    state = _state(request)
    session = await state.sessions.current(request)
    try:
        check_state_change(
            request, state.settings, state.keys, session.session_hash if session else None
        )
    except Refused as exc:
        return state.error(request, exc.status, exc.error)
    assert session is not None  # noqa: S101 - the CSRF check needs a session
    await state.sessions.store.delete_session(session.session_hash)
    if session.tokens.refresh_token is not None:
        # If the server is unreachable the session is still gone here; the family then
        # ends at the server by its own idle and absolute limits.
        with contextlib.suppress(FetchError):
            await state.oauth.revoke(session.tokens.refresh_token)
    response = json_response(
        {"logged_out": True, "end_session_url": state.oauth.end_session_url()},
        headers=cors_headers(request, state.settings),
    )
    set_cookie(response, state.settings, SESSION_COOKIE, "", 0)
    return response


async def preflight(request: Request) -> Response:
    """CORS preflight: answered only for a configured origin."""
    state = _state(request)
    headers = cors_headers(request, state.settings)
    if not headers:
        return Response(status_code=403)
    headers.update(
        {
            "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE",
            "Access-Control-Allow-Headers": "Content-Type, X-CSRF-Token",
            "Access-Control-Max-Age": "600",
        }
    )
    return Response(status_code=204, headers=headers)


class _PageHeaders:
    """Adds the page headers to every response (the proxy's included: harmless, and a
    proxied HTML error page gets framed-off too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                for name, value in _PAGE_HEADERS.items():
                    if name.lower().encode() not in names:
                        headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


async def _unavailable(_request: Request, exc: Exception) -> Response:
    """The session store or the authorization server is down: 503, never a 500 with a trace."""
    code = "session_store_unavailable" if isinstance(exc, StorageError) else "upstream_unavailable"
    return json_response({"error": code}, 503)


def _session_key(settings: BffSettings) -> bytes:
    if settings.session_key:
        return b64url_decode(settings.session_key)
    raw = load_or_create_secret_file(settings.home / "session-key").reveal()
    return raw if isinstance(raw, bytes) else raw.encode()


def build_bff_app(
    settings: BffSettings,
    *,
    http: httpx.AsyncClient | None = None,
    store: SessionStore | None = None,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """``http`` and ``store`` may be injected (tests); otherwise the lifespan makes them."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        key = _session_key(settings)
        own_http = http is None
        client = http or httpx.AsyncClient(timeout=settings.upstream_timeout)
        own_store = store is None
        sessions_store = store or open_session_store(
            settings.resolved_session_store, TokenSealer(key)
        )
        oauth = OAuthClient(settings, client, clock)
        try:
            await oauth.start()
            app.state.bff = BffState(
                settings=settings,
                sessions=Sessions(sessions_store, oauth, settings, clock),
                oauth=oauth,
                http=client,
                keys=ServerKeys(Secret(key)),
                clock=clock,
            )
            yield
        finally:
            if own_store:
                await sessions_store.close()
            if own_http:
                await client.aclose()

    static = Path(str(files("tessera.bff").joinpath("static")))
    routes = [
        Route("/bff/login", login_endpoint, methods=["GET"]),
        Route("/bff/callback", callback_endpoint, methods=["GET"]),
        Route("/bff/logout", logout_endpoint, methods=["POST"]),
        Route("/bff/logout", preflight, methods=["OPTIONS"]),
        Route("/bff/session", session_endpoint, methods=["GET"]),
        Route("/api/{upstream}/{path:path}", preflight, methods=["OPTIONS"]),
        Route(
            "/api/{upstream}/{path:path}",
            proxy_endpoint,
            methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        ),
        Mount("/", StaticFiles(directory=static, html=True)),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={StorageError: _unavailable, FetchError: _unavailable},
    )
    app.add_middleware(_PageHeaders)
    return app


def create_bff_app(settings: BffSettings | None = None) -> Starlette:
    """Factory for uvicorn: settings from the environment by default."""
    from tessera.bff.config import load_bff_settings  # noqa: PLC0415 - the edge reads env
    from tessera.logging import configure_logging  # noqa: PLC0415

    resolved = settings if settings is not None else load_bff_settings()
    configure_logging(resolved.log_level, background=True)
    return build_bff_app(resolved)
