"""The login and consent pages: ``{issuer}/login`` and ``{issuer}/consent`` (GET shows, POST acts).

Each POST runs these steps in order: same-origin → the interaction belongs to this browser
→ CSRF token → the page's own rule. Success answers 303 (RFC 9110 §15.4.4) to the next step,
which is always derived from the stored interaction: there is no ``next=`` parameter, so
there is nothing to turn into an open redirect.

Login refuses with ONE message for an unknown email, a wrong password and a disabled
account, and spends the same argon2id work on each (no user enumeration); failures count
per account and per client address (:mod:`tessera.server.throttle`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tessera.errors import (
    AccessDenied,
    InvalidCredentials,
    InvalidRequest,
    LoginThrottled,
    ProtocolError,
)
from tessera.secret import Secret
from tessera.server.authorization_request import AuthorizationRequest
from tessera.server.client_profile import is_first_party
from tessera.server.context import ServerContext
from tessera.server.endpoints.authorize import error_page, proceed
from tessera.server.endpoints.common import context, known_tenant
from tessera.server.forms import read_form, single
from tessera.server.interaction import (
    binding_cookie,
    check_origin,
    csrf_token,
    current_session,
    error_redirect,
    issue_code,
    load_interaction,
    read_query,
    session_cookie,
    set_cookie,
    start_session,
    take_interaction,
    verify_csrf,
)
from tessera.server.passwords import normalize_email
from tessera.storage.user_records import Consent, PendingRequest

__all__ = ["consent_endpoint", "login_endpoint"]

_BAD_LOGIN = "Incorrect email or password."
_SCOPE_TEXT = {
    "openid": "Confirm who you are",
    "profile": "See your name",
    "email": "See your email address",
    "offline_access": "Stay connected when you are not using it",
}


def _common(ctx: ServerContext, tenant_id: str) -> dict[str, Any]:
    return {"assets": f"{ctx.settings.base_url}/assets", "tenant_name": tenant_id}


async def _client_name(ctx: ServerContext, tenant_id: str, client_id: str) -> str:
    client = await ctx.directory.client(tenant_id, client_id)
    return client.name if client is not None else client_id


async def _login_page(
    ctx: ServerContext,
    request: Request,
    tenant_id: str,
    pending: PendingRequest,
    interaction_id: str,
    *,
    email: str = "",
    error: str | None = None,
    retry_after: int | None = None,
    status: int = 200,
) -> Response:
    binding = request.cookies.get(binding_cookie(ctx), "")
    return ctx.pages.render(
        "login.html",
        status=status,
        headers={"Retry-After": str(retry_after)} if retry_after else None,
        **_common(ctx, tenant_id),
        action=f"{ctx.issuer(tenant_id)}/login",
        interaction=interaction_id,
        csrf=csrf_token(ctx, binding, interaction_id),
        client_name=await _client_name(ctx, tenant_id, pending.client_id),
        email=email,
        error=error,
        retry_after=retry_after,
    )


async def _begin(request: Request) -> tuple[ServerContext, str | None]:
    ctx = context(request)
    return ctx, await known_tenant(ctx, request)


async def login_endpoint(request: Request) -> Response:
    ctx, tenant_id = await _begin(request)
    if tenant_id is None:
        return error_page(ctx, "Tessera", InvalidRequest("unknown tenant"), 404)
    now = ctx.clock()
    try:
        if request.method == "GET":
            interaction_id = read_query(request).get("interaction")
            pending = await load_interaction(ctx, request, tenant_id, interaction_id, now)
            assert interaction_id is not None  # noqa: S101 - load_interaction checked it
            return await _login_page(ctx, request, tenant_id, pending, interaction_id)
        check_origin(ctx, request)
        form = await read_form(request)
        interaction_id = single(form, "interaction")
        pending = await load_interaction(ctx, request, tenant_id, interaction_id, now)
        assert interaction_id is not None  # noqa: S101 - load_interaction checked it
        verify_csrf(ctx, request, interaction_id, single(form, "csrf") or "")
    except ProtocolError as exc:
        return error_page(ctx, tenant_id, exc)
    return await _attempt_login(ctx, request, tenant_id, pending, interaction_id, form, now)


async def _attempt_login(
    ctx: ServerContext,
    request: Request,
    tenant_id: str,
    pending: PendingRequest,
    interaction_id: str,
    form: dict[str, str | list[str]],
    now: float,
) -> Response:
    raw_email = single(form, "email") or ""
    password = Secret(single(form, "password") or "")
    ip = request.client.host if request.client is not None else "unknown"
    try:
        email = normalize_email(raw_email)
    except ValueError:
        email = raw_email.strip().casefold()[:254]
    try:
        await ctx.throttle.check(tenant_id, email, ip, now)
    except LoginThrottled as exc:
        ctx.audit.emit("user.login", tenant_id=tenant_id, outcome="throttled")
        return await _login_page(
            ctx,
            request,
            tenant_id,
            pending,
            interaction_id,
            email=raw_email[:254],
            retry_after=exc.retry_after,
            status=429,
        )
    user = await ctx.store.find_user_by_email(tenant_id, email)
    # Unknown users verify against a dummy hash: the same work, the same answer.
    upgraded = None
    try:
        upgraded = await ctx.passwords.verify_async(
            user.password_hash if user is not None else None, password
        )
    except InvalidCredentials:
        user = None
    if user is None or user.disabled:
        await ctx.throttle.record_failure(tenant_id, email, ip, now)
        ctx.audit.emit("user.login", tenant_id=tenant_id, outcome="failure")
        return await _login_page(
            ctx,
            request,
            tenant_id,
            pending,
            interaction_id,
            email=raw_email[:254],
            error=_BAD_LOGIN,
            status=401,
        )
    if upgraded is not None:
        await ctx.store.replace_user(replace(user, password_hash=upgraded, updated_at=now))
    await ctx.throttle.record_success(tenant_id, email, ip, now)
    # The browser's previous session (maybe another user's) ends: one login per cookie.
    previous = await current_session(ctx, request, tenant_id, now)
    if previous is not None:
        await ctx.store.end_session(tenant_id, previous.session_id, now=now)
    session, cookie_value = await start_session(ctx, tenant_id, user.user_id, now)
    ctx.audit.emit("user.login", tenant_id=tenant_id, sub=user.user_id, outcome="success")
    authz = AuthorizationRequest.from_params(pending.params)
    if not await take_interaction(ctx, interaction_id, now):
        return error_page(ctx, tenant_id, InvalidRequest("this sign-in request was already used"))
    client = await ctx.directory.client(tenant_id, authz.client_id)
    if client is None or client.disabled:
        response = error_page(ctx, tenant_id, InvalidRequest("unknown client"))
    else:
        try:
            response = await proceed(
                ctx, request, tenant_id, client, authz, session, now, logged_in_now=True
            )
        except ProtocolError as exc:
            response = error_redirect(ctx, tenant_id, authz.redirect_uri, authz.state, exc)
    set_cookie(
        ctx, response, session_cookie(ctx, tenant_id), cookie_value, ctx.settings.session_ttl
    )
    return response


async def consent_endpoint(request: Request) -> Response:
    ctx, tenant_id = await _begin(request)
    if tenant_id is None:
        return error_page(ctx, "Tessera", InvalidRequest("unknown tenant"), 404)
    now = ctx.clock()
    try:
        if request.method == "GET":
            interaction_id = read_query(request).get("interaction")
            form: dict[str, str | list[str]] = {}
        else:
            check_origin(ctx, request)
            form = await read_form(request)
            interaction_id = single(form, "interaction")
        pending = await load_interaction(ctx, request, tenant_id, interaction_id, now)
        assert interaction_id is not None  # noqa: S101 - load_interaction checked it
        if request.method == "POST":
            verify_csrf(ctx, request, interaction_id, single(form, "csrf") or "")
    except ProtocolError as exc:
        return error_page(ctx, tenant_id, exc)
    authz = AuthorizationRequest.from_params(pending.params)
    session = await current_session(ctx, request, tenant_id, now)
    client = await ctx.directory.client(tenant_id, authz.client_id)
    if session is None or client is None or client.disabled:
        return error_page(ctx, tenant_id, InvalidRequest("your sign-in has ended; start again"))
    if request.method == "GET":
        user = await ctx.store.get_user(tenant_id, session.user_id)
        return ctx.pages.render(
            "consent.html",
            **_common(ctx, tenant_id),
            action=f"{ctx.issuer(tenant_id)}/consent",
            interaction=interaction_id,
            csrf=csrf_token(ctx, request.cookies.get(binding_cookie(ctx), ""), interaction_id),
            client_name=client.name,
            user_email=user.email if user is not None else "",
            scopes=[
                {"name": s, "description": _SCOPE_TEXT.get(s, f"Access “{s}”")}
                for s in authz.scope.split()
            ],
        )
    if not await take_interaction(ctx, interaction_id, now):
        return error_page(ctx, tenant_id, InvalidRequest("this request was already answered"))
    if single(form, "decision") != "allow":
        ctx.audit.emit("consent.denied", tenant_id=tenant_id, client_id=client.client_id)
        return error_redirect(
            ctx, tenant_id, authz.redirect_uri, authz.state, AccessDenied("the user declined")
        )
    if not is_first_party(client):
        previous = await ctx.store.get_consent(tenant_id, session.user_id, client.client_id)
        granted = frozenset(authz.scope.split()) | (previous.scopes if previous else frozenset())
        await ctx.store.put_consent(
            Consent(tenant_id, session.user_id, client.client_id, granted, now)
        )
    ctx.audit.emit(
        "consent.granted", tenant_id=tenant_id, client_id=client.client_id, scope=authz.scope
    )
    return await issue_code(ctx, tenant_id, authz, session, now)
