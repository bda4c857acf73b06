"""RFC 6749 §4.4: the client credentials grant — a token for the client itself."""

from __future__ import annotations

from starlette.responses import Response

from tessera.server.context import ServerContext
from tessera.server.grants.scopes import Form, access_token_ttl, resolve_audience, resolve_scope
from tessera.server.issuance import client_subject
from tessera.server.responses import json_response
from tessera.storage.records import Client

__all__ = ["client_credentials"]


async def client_credentials(
    ctx: ServerContext, tenant_id: str, client: Client, form: Form, now: float
) -> Response:
    """No refresh token (§4.4.3): the client can always ask again."""
    audience = resolve_audience(form, client)
    scope = resolve_scope(form, client)
    ttl = access_token_ttl(client, ctx.settings.access_token_ttl_m2m)
    issued = await ctx.tokens.issue(
        issuer=ctx.issuer(tenant_id),
        tenant_id=tenant_id,
        client=client,
        subject=client_subject(client.client_id),
        audience=audience,
        scope=scope,
        ttl=ttl,
        now=now,
    )
    ctx.audit.emit(
        "token.issued",
        tenant_id=tenant_id,
        client_id=client.client_id,
        iss=ctx.issuer(tenant_id),
        aud=audience,
        scope=scope,
        jti=issued.jti,
        kid=issued.kid,
        grant_type="client_credentials",
        token_format=issued.token_format,
    )
    body = {
        "access_token": issued.value,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": scope,
    }
    return json_response(body)
