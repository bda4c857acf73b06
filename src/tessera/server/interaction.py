"""The browser side of authorization: the login session cookie, interactions, CSRF tokens,
and the final redirect with the code.

- **Login session** (the SSO cookie): a random value; the database keeps its SHA-256.
  ``HttpOnly; SameSite=Lax; Path=/`` and, on https, ``Secure`` with the ``__Host-`` prefix
  (no ``Domain``, so no sibling host can set or read it). A new value at every login: no
  session fixation.
- **Interaction**: an ``/authorize`` request waiting for login or consent is stored
  server-side; the page URL carries only its id. It is bound to the browser that started
  it by a second cookie (``binding``), so a link to someone else's interaction is useless.
- **CSRF** on every form: ``HMAC(csrf key, binding, interaction id)`` — a token only the
  browser holding the binding cookie can present, checked in constant time; and a cross-site
  ``Origin`` is refused outright.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tessera.errors import InvalidRequest, ProtocolError
from tessera.jose.b64 import b64url_encode
from tessera.secret import constant_time_equals
from tessera.server.authorization_request import AuthorizationRequest
from tessera.server.context import ServerContext
from tessera.server.grants.authorization_code import CODE_PREFIX
from tessera.server.issuance import opaque_hash
from tessera.storage.user_records import AuthorizationCode, LoginSession, PendingRequest

__all__ = [
    "binding_cookie",
    "check_origin",
    "csrf_token",
    "current_session",
    "error_redirect",
    "issue_code",
    "load_interaction",
    "read_query",
    "redirect",
    "session_cookie",
    "set_cookie",
    "start_interaction",
    "start_session",
    "take_interaction",
    "verify_csrf",
]

_MAX_QUERY: Final = 8192


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


def read_query(request: Request) -> dict[str, str]:
    """RFC 6749 §3.1: parameters at most once; empty ones are omitted."""
    raw = request.url.query
    if len(raw) > _MAX_QUERY:
        raise InvalidRequest("the request is too large")
    try:
        pairs = parse_qsl(raw, keep_blank_values=False, max_num_fields=64, errors="strict")
    except ValueError:
        raise InvalidRequest("the query string is malformed") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise InvalidRequest("a request parameter is repeated")
        params[name] = value
    return params


def session_cookie(ctx: ServerContext, tenant_id: str) -> str:
    prefix = "__Host-" if ctx.settings.secure_cookies else ""
    return f"{prefix}tessera-session-{tenant_id}"


def binding_cookie(ctx: ServerContext) -> str:
    prefix = "__Host-" if ctx.settings.secure_cookies else ""
    return f"{prefix}tessera-interaction"


def set_cookie(
    ctx: ServerContext, response: Response, name: str, value: str, max_age: int | None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=ctx.settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def redirect(location: str) -> Response:
    """303 See Other: after a POST the browser must GET the target (RFC 9110 §15.4.4)."""
    return RedirectResponse(location, status_code=303, headers={"Cache-Control": "no-store"})


def _with_params(uri: str, params: dict[str, str]) -> str:
    # RFC 6749 §3.1.2: keep the registered URI's own query; append ours.
    separator = "&" if urlsplit(uri).query else "?"
    return f"{uri}{separator}{urlencode(params)}"


def error_redirect(
    ctx: ServerContext, tenant_id: str, redirect_uri: str, state: str | None, exc: ProtocolError
) -> Response:
    """RFC 6749 §4.1.2.1 with RFC 9207's ``iss``: the error goes back to the client."""
    params = {"error": exc.code, "error_description": exc.message}
    if state is not None:
        params["state"] = state
    params["iss"] = ctx.issuer(tenant_id)
    return redirect(_with_params(redirect_uri, params))


def check_origin(ctx: ServerContext, request: Request) -> None:
    """A form POST from another origin is refused, whatever it carries."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        # Older browsers omit it; and with ``Referrer-Policy: no-referrer`` (RFC 9700 §4.2.4)
        # browsers send ``Origin: null`` on form POSTs (Fetch §3.2.5). The CSRF token, bound
        # to this browser's cookie, still decides.
        return
    public = urlsplit(ctx.settings.base_url)
    if origin != f"{public.scheme}://{public.netloc}":
        raise InvalidRequest("cross-origin form submission refused")


async def current_session(
    ctx: ServerContext, request: Request, tenant_id: str, now: float
) -> LoginSession | None:
    """The browser's live login at this tenant, for a user who is still enabled."""
    value = request.cookies.get(session_cookie(ctx, tenant_id))
    if not value or len(value) > 128:
        return None
    session = await ctx.store.find_live_session(_digest(value), now=now)
    if session is None or session.tenant_id != tenant_id:
        return None
    user = await ctx.store.get_user(tenant_id, session.user_id)
    if user is None or user.disabled:
        return None
    return session


async def start_session(
    ctx: ServerContext, tenant_id: str, user_id: str, now: float
) -> tuple[LoginSession, str]:
    """A NEW session (new cookie value, new ``sid``) at every login: no fixation.

    Returns the session and the cookie value to set on the response."""
    value = secrets.token_urlsafe(32)
    session = LoginSession(
        session_hash=_digest(value),
        session_id=secrets.token_urlsafe(16),
        tenant_id=tenant_id,
        user_id=user_id,
        auth_time=now,
        created_at=now,
        expires_at=now + ctx.settings.session_ttl,
    )
    await ctx.store.add_session(session)
    return session, value


def csrf_token(ctx: ServerContext, binding: str, interaction_id: str) -> str:
    return b64url_encode(ctx.server_keys.csrf_mac("form", binding, interaction_id))


def verify_csrf(ctx: ServerContext, request: Request, interaction_id: str, token: str) -> None:
    binding = request.cookies.get(binding_cookie(ctx), "")
    expected = csrf_token(ctx, binding, interaction_id)
    if not binding or not constant_time_equals(expected, token):
        raise InvalidRequest("the form has expired; go back to the application and retry")


async def start_interaction(
    ctx: ServerContext,
    request: Request,
    tenant_id: str,
    params: dict[str, object],
    now: float,
) -> tuple[str, str]:
    """Store a pending step; returns (interaction id, binding value to set as cookie)."""
    binding = request.cookies.get(binding_cookie(ctx))
    if not binding or len(binding) > 128:
        binding = secrets.token_urlsafe(32)
    interaction_id = secrets.token_urlsafe(24)
    await ctx.store.add_request(
        PendingRequest(
            request_hash=_digest(interaction_id),
            tenant_id=tenant_id,
            client_id=str(params.get("client_id", "")),
            kind="interaction",
            params=dict(params),
            created_at=now,
            expires_at=now + ctx.settings.interaction_ttl,
            binding_hash=_digest(binding),
        )
    )
    return interaction_id, binding


async def load_interaction(
    ctx: ServerContext, request: Request, tenant_id: str, interaction_id: str | None, now: float
) -> PendingRequest:
    """The live interaction, only for the browser that started it."""
    if not interaction_id or len(interaction_id) > 128:
        raise InvalidRequest("this sign-in request is unknown or has expired")
    pending = await ctx.store.get_request(_digest(interaction_id), now=now)
    binding = request.cookies.get(binding_cookie(ctx), "")
    if (
        pending is None
        or pending.kind != "interaction"
        or pending.tenant_id != tenant_id
        or pending.binding_hash is None
        or not constant_time_equals(_digest(binding), pending.binding_hash)
    ):
        raise InvalidRequest("this sign-in request is unknown or has expired")
    return pending


async def take_interaction(ctx: ServerContext, interaction_id: str, now: float) -> bool:
    """Single use: True for the one caller that consumed it."""
    return await ctx.store.take_request(_digest(interaction_id), now=now) is not None


async def issue_code(
    ctx: ServerContext,
    tenant_id: str,
    authz: AuthorizationRequest,
    session: LoginSession,
    now: float,
) -> Response:
    """RFC 6749 §4.1.2: a single-use code, bound to client, redirect URI, PKCE and session."""
    value = CODE_PREFIX + secrets.token_urlsafe(32)
    await ctx.store.add_code(
        AuthorizationCode(
            code_hash=opaque_hash(value),
            tenant_id=tenant_id,
            client_id=authz.client_id,
            user_id=session.user_id,
            session_id=session.session_id,
            redirect_uri=authz.redirect_uri,
            scope=authz.scope,
            audience=authz.audience,
            code_challenge=authz.code_challenge,
            nonce=authz.nonce,
            auth_time=session.auth_time,
            family_id=secrets.token_hex(16),
            issued_at=now,
            expires_at=now + ctx.settings.code_ttl,
        )
    )
    ctx.audit.emit(
        "code.issued", tenant_id=tenant_id, client_id=authz.client_id, sub=session.user_id
    )
    params = {"code": value}
    if authz.state is not None:
        params["state"] = authz.state
    params["iss"] = ctx.issuer(tenant_id)  # RFC 9207 §2
    return redirect(_with_params(authz.redirect_uri, params))
