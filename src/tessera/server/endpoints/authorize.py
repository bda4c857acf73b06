"""``GET|POST {issuer}/authorize`` (RFC 6749 §4.1.1, OAuth 2.1 §4.1, OIDC Core §3.1.2).

Pipeline: known tenant → parameters (query, or form for POST; a pushed request by its
``request_uri``, RFC 9126 §4) → client and redirect URI (errors on a PAGE, never redirected)
→ the request's own checks (errors redirected with ``state`` and ``iss``) → who is logged in
→ login page, consent page, or the code.
"""

from __future__ import annotations

import hashlib
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from tessera.errors import (
    ConsentRequired,
    InvalidRequest,
    InvalidRequestUri,
    LoginRequired,
    ProtocolError,
)
from tessera.server.authorization_request import (
    AuthorizationRequest,
    NotRedirectable,
    check_client_and_redirect,
    check_request,
)
from tessera.server.client_profile import is_first_party, requires_par
from tessera.server.context import ServerContext
from tessera.server.endpoints.common import context, known_tenant
from tessera.server.forms import read_form
from tessera.server.interaction import (
    binding_cookie,
    current_session,
    error_redirect,
    issue_code,
    read_query,
    redirect,
    set_cookie,
    start_interaction,
)
from tessera.storage.records import Client
from tessera.storage.user_records import LoginSession

__all__ = ["PAR_PREFIX", "authorize_endpoint", "error_page", "needs_consent", "proceed"]

PAR_PREFIX: Final = "urn:ietf:params:oauth:request_uri:"


def error_page(
    ctx: ServerContext, tenant_id: str, exc: ProtocolError, status: int = 400
) -> Response:
    """The answer when redirecting is not safe (RFC 6749 §4.1.2.1, RFC 9700 §4.1.3)."""
    return ctx.pages.render(
        "error.html",
        status=status,
        assets=f"{ctx.settings.base_url}/assets",
        tenant_name=tenant_id,
        title="This request cannot continue",
        message=exc.message,
        error=exc.code,
    )


async def _params(request: Request) -> dict[str, str]:
    if request.method == "POST":  # OIDC Core §3.1.2.1: POST with a form body is allowed
        form = await read_form(request)
        return {k: v for k, v in form.items() if isinstance(v, str)}
    return read_query(request)


async def _pushed(
    ctx: ServerContext, tenant_id: str, params: dict[str, str], now: float
) -> AuthorizationRequest:
    """RFC 9126 §4: the pushed request, single use, of this very client."""
    uri = params["request_uri"]
    client_id = params.get("client_id")
    if not uri.startswith(PAR_PREFIX) or len(uri) > 256 or not client_id:
        raise NotRedirectable(InvalidRequestUri("request_uri is not a pushed request"))
    pending = await ctx.store.take_request(hashlib.sha256(uri.encode("utf-8")).digest(), now=now)
    if (
        pending is None
        or pending.kind != "par"
        or pending.tenant_id != tenant_id
        or pending.client_id != client_id
    ):
        raise NotRedirectable(InvalidRequestUri("request_uri is unknown, used or expired"))
    return AuthorizationRequest.from_params(pending.params)


async def needs_consent(
    ctx: ServerContext, tenant_id: str, client: Client, authz: AuthorizationRequest, user_id: str
) -> bool:
    """Consent is asked once per client and scope set, never for first-party clients,
    and always with ``prompt=consent`` (OIDC Core §3.1.2.1)."""
    if "consent" in authz.prompt:
        return True
    if is_first_party(client):
        return False
    consent = await ctx.store.get_consent(tenant_id, user_id, client.client_id)
    return consent is None or not frozenset(authz.scope.split()) <= consent.scopes


def check_par_not_required(client: Client) -> None:
    """RFC 9126 §5: a client registered ``require_par`` may not send its request in the URL."""
    if requires_par(client):
        raise NotRedirectable(InvalidRequest("this client must push its requests (PAR)"))


def _login_needed(authz: AuthorizationRequest, session: LoginSession | None, now: float) -> bool:
    """OIDC Core §3.1.2.1: ``prompt=login`` and ``max_age`` force a fresh login."""
    if session is None or "login" in authz.prompt:
        return True
    return authz.max_age is not None and now - session.auth_time > authz.max_age


async def proceed(
    ctx: ServerContext,
    request: Request,
    tenant_id: str,
    client: Client,
    authz: AuthorizationRequest,
    session: LoginSession | None,
    now: float,
    *,
    logged_in_now: bool = False,
) -> Response:
    """Login, consent, or the code — whichever is next for this request."""
    if not logged_in_now and _login_needed(authz, session, now):
        if "none" in authz.prompt:
            raise LoginRequired("the user is not logged in")
        return await _to_page(ctx, request, tenant_id, authz, "login", now)
    assert session is not None  # noqa: S101 - logged in by now
    if await needs_consent(ctx, tenant_id, client, authz, session.user_id):
        if "none" in authz.prompt:
            raise ConsentRequired("the user has not consented to this client")
        return await _to_page(ctx, request, tenant_id, authz, "consent", now)
    return await issue_code(ctx, tenant_id, authz, session, now)


async def _to_page(
    ctx: ServerContext,
    request: Request,
    tenant_id: str,
    authz: AuthorizationRequest,
    page: str,
    now: float,
) -> Response:
    params = {**authz.to_params(), "prompt": [p for p in authz.prompt if p != "login"]}
    interaction_id, binding = await start_interaction(ctx, request, tenant_id, params, now)
    response = redirect(f"{ctx.issuer(tenant_id)}/{page}?interaction={interaction_id}")
    set_cookie(ctx, response, binding_cookie(ctx), binding, ctx.settings.interaction_ttl)
    return response


async def authorize_endpoint(request: Request) -> Response:
    ctx = context(request)
    tenant_id = await known_tenant(ctx, request)
    if tenant_id is None:
        return ctx.pages.render(
            "error.html",
            status=404,
            assets=f"{ctx.settings.base_url}/assets",
            tenant_name="Tessera",
            title="Unknown tenant",
            message="There is no such tenant.",
            error="invalid_request",
        )
    now = ctx.clock()
    try:
        params = await _params(request)
        if "request_uri" in params:
            authz = await _pushed(ctx, tenant_id, params, now)
            client, _ = await check_client_and_redirect(
                ctx.directory, tenant_id, {**authz.to_params(), "client_id": authz.client_id}
            )
        else:
            client, redirect_uri = await check_client_and_redirect(ctx.directory, tenant_id, params)
            check_par_not_required(client)
            authz = None
    except NotRedirectable as exc:
        return error_page(ctx, tenant_id, exc.error)
    except ProtocolError as exc:
        return error_page(ctx, tenant_id, exc)
    state = authz.state if authz is not None else params.get("state")
    target = authz.redirect_uri if authz is not None else redirect_uri
    try:
        if authz is None:
            authz = check_request(
                client, target, params, userinfo=f"{ctx.issuer(tenant_id)}/userinfo"
            )
        session = await current_session(ctx, request, tenant_id, now)
        return await proceed(ctx, request, tenant_id, client, authz, session, now)
    except ProtocolError as exc:
        ctx.audit.emit(
            "authorize.refused", tenant_id=tenant_id, client_id=client.client_id, error=exc.code
        )
        return error_redirect(ctx, tenant_id, target, state if _printable(state) else None, exc)


def _printable(state: str | None) -> bool:
    return state is not None and len(state) <= 2048 and state.isprintable()
