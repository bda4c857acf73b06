"""``GET|POST {issuer}/logout``: OpenID Connect RP-Initiated Logout 1.0.

Steps: known tenant → ``id_token_hint`` (if any) is an ID token of ours → the client it
names (or ``client_id``) registered ``post_logout_redirect_uri`` EXACTLY (otherwise an
error page: never an open redirect) → confirm → end the session and revoke every refresh
family created under it (and so their access tokens) → 303 back with ``state``, or a page.

Confirmation (§2 "SHOULD ask the End-User"): a request with a valid ``id_token_hint`` for
the browser's own session (or when the browser has no session) is the RP speaking for its
user and is carried out at once; anything else shows a CSRF-protected confirmation form,
so a cross-site link cannot log anyone out.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from tessera.errors import InvalidRequest, ProtocolError
from tessera.server.client_profile import post_logout_redirect_uris
from tessera.server.context import ServerContext
from tessera.server.endpoints.authorize import error_page
from tessera.server.endpoints.common import context, known_tenant
from tessera.server.families import revoke_family
from tessera.server.forms import read_form, single
from tessera.server.id_tokens import read_id_token_hint
from tessera.server.interaction import (
    binding_cookie,
    check_origin,
    csrf_token,
    current_session,
    load_interaction,
    read_query,
    redirect,
    session_cookie,
    set_cookie,
    start_interaction,
    take_interaction,
    verify_csrf,
)

__all__ = ["end_session", "logout_endpoint"]


async def end_session(ctx: ServerContext, tenant_id: str, session_id: str, now: float) -> None:
    """End the login and revoke what was granted under it (DESIGN.md ``/logout``)."""
    await ctx.store.end_session(tenant_id, session_id, now=now)
    for family_id in await ctx.store.families_of_session(tenant_id, session_id):
        await revoke_family(ctx, tenant_id, family_id, reason="logout", now=now)
    ctx.audit.emit("session.ended", tenant_id=tenant_id, outcome="logout")


async def _target(
    ctx: ServerContext, tenant_id: str, params: dict[str, str], hint_client: str | None
) -> tuple[str | None, str | None]:
    """(client_id, post_logout_redirect_uri), the URI only if registered exactly."""
    client_id = params.get("client_id")
    if hint_client is not None and client_id is not None and client_id != hint_client:
        raise InvalidRequest("client_id does not match the id_token_hint")
    client_id = hint_client or client_id
    uri = params.get("post_logout_redirect_uri")
    if uri is None:
        return client_id, None
    client = await ctx.directory.client(tenant_id, client_id) if client_id else None
    if client is None or uri not in post_logout_redirect_uris(client):
        raise InvalidRequest("post_logout_redirect_uri is not registered for this client")
    return client_id, uri


def _finish(ctx: ServerContext, tenant_id: str, uri: str | None, state: str | None) -> Response:
    if uri is not None:
        query = urlencode({"state": state} if state else {})
        joiner = "&" if urlsplit(uri).query else "?"
        response = redirect(f"{uri}{joiner}{query}" if query else uri)
    else:
        response = ctx.pages.render(
            "logged_out.html", assets=f"{ctx.settings.base_url}/assets", tenant_name=tenant_id
        )
    set_cookie(ctx, response, session_cookie(ctx, tenant_id), "", 0)
    return response


async def logout_endpoint(request: Request) -> Response:
    ctx = context(request)
    tenant_id = await known_tenant(ctx, request)
    if tenant_id is None:
        return error_page(ctx, "Tessera", InvalidRequest("unknown tenant"), 404)
    now = ctx.clock()
    try:
        if request.method == "POST":
            form = await read_form(request)
            if "logout" in form:
                return await _confirmed(ctx, request, tenant_id, form, now)
            params = {k: v for k, v in form.items() if isinstance(v, str)}
        else:
            params = read_query(request)
        hint = None
        if "id_token_hint" in params:
            hint = await read_id_token_hint(
                ctx.keys,
                issuer=ctx.issuer(tenant_id),
                tenant_id=tenant_id,
                token=params["id_token_hint"],
                now=now,
            )
        client_id, uri = await _target(ctx, tenant_id, params, hint.client_id if hint else None)
    except ProtocolError as exc:
        return error_page(ctx, tenant_id, exc)
    state = params.get("state")
    session = await current_session(ctx, request, tenant_id, now)
    if hint is not None and (session is None or session.session_id == hint.session_id):
        if hint.session_id is not None:
            await end_session(ctx, tenant_id, hint.session_id, now)
        return _finish(ctx, tenant_id, uri, state)
    if session is None:
        return _finish(ctx, tenant_id, uri, state)  # nothing to end: just go back
    pending: dict[str, Any] = {"client_id": client_id or "", "uri": uri, "state": state}
    interaction_id, binding = await start_interaction(ctx, request, tenant_id, pending, now)
    client = await ctx.directory.client(tenant_id, client_id) if client_id else None
    response = ctx.pages.render(
        "logout.html",
        assets=f"{ctx.settings.base_url}/assets",
        tenant_name=tenant_id,
        action=f"{ctx.issuer(tenant_id)}/logout",
        csrf=csrf_token(ctx, binding, interaction_id),
        logout=interaction_id,
        client_name=client.name if client is not None else None,
    )
    set_cookie(ctx, response, binding_cookie(ctx), binding, ctx.settings.interaction_ttl)
    return response


async def _confirmed(
    ctx: ServerContext,
    request: Request,
    tenant_id: str,
    form: dict[str, str | list[str]],
    now: float,
) -> Response:
    check_origin(ctx, request)
    interaction_id = single(form, "logout")
    pending = await load_interaction(ctx, request, tenant_id, interaction_id, now)
    assert interaction_id is not None  # noqa: S101 - load_interaction checked it
    verify_csrf(ctx, request, interaction_id, single(form, "csrf") or "")
    if not await take_interaction(ctx, interaction_id, now):
        raise InvalidRequest("this request was already answered")
    uri, state = pending.params.get("uri"), pending.params.get("state")
    if single(form, "decision") != "logout":
        if uri is not None:
            return redirect(uri)
        return error_page(ctx, tenant_id, InvalidRequest("you are still signed in"), 200)
    session = await current_session(ctx, request, tenant_id, now)
    if session is not None:
        await end_session(ctx, tenant_id, session.session_id, now)
    return _finish(ctx, tenant_id, uri, state)
