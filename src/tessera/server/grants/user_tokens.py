"""The token response of the user grants (authorization code, refresh): access token, the
rotated refresh token, and an ID token when ``openid`` was granted (OIDC Core §3.1.3.3)."""

from __future__ import annotations

import secrets
from typing import Any, Final

from starlette.responses import Response

from tessera.jose.b64 import b64url_encode
from tessera.server.context import ServerContext
from tessera.server.grants.scopes import access_token_ttl
from tessera.server.id_tokens import mint_id_token
from tessera.server.issuance import opaque_hash
from tessera.server.responses import json_response
from tessera.storage.records import Client
from tessera.storage.user_records import RefreshFamily

__all__ = [
    "REFRESH_PREFIX",
    "is_refresh_shaped",
    "new_refresh_value",
    "refresh_hash",
    "respond_with_tokens",
    "successor_value",
]

REFRESH_PREFIX: Final = "trt_"


def new_refresh_value() -> str:
    """A first refresh token: 256 random bits (RFC 6749 §10.10)."""
    return REFRESH_PREFIX + secrets.token_urlsafe(32)


def refresh_hash(value: str) -> bytes:
    return opaque_hash(value)


def is_refresh_shaped(value: str) -> bool:
    return value.startswith(REFRESH_PREFIX) and 20 <= len(value) <= 128


def successor_value(ctx: ServerContext, parent: str) -> str:
    """The successor of ``parent``: derived, so a retry can be answered with the same one."""
    return REFRESH_PREFIX + b64url_encode(ctx.server_keys.successor_mac(parent))


async def respond_with_tokens(
    ctx: ServerContext,
    *,
    tenant_id: str,
    client: Client,
    family: RefreshFamily,
    scope: str,
    jti: str,
    refresh_value: str | None,
    nonce: str | None,
    now: float,
    grant_type: str,
) -> Response:
    """Issue the access token whose ``jti`` the caller already recorded under ``family``."""
    issuer = ctx.issuer(tenant_id)
    ttl = access_token_ttl(client, ctx.settings.access_token_ttl_user)
    issued = await ctx.tokens.issue(
        issuer=issuer,
        tenant_id=tenant_id,
        client=client,
        subject=family.user_id,
        audience=family.audience,
        scope=scope,
        ttl=ttl,
        now=now,
        jti=jti,
        extra={"auth_time": int(family.auth_time)},
    )
    body: dict[str, Any] = {
        "access_token": issued.value,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": scope,
    }
    if refresh_value is not None:
        body["refresh_token"] = refresh_value
    if "openid" in scope.split():
        body["id_token"] = await mint_id_token(
            ctx.tokens,
            issuer=issuer,
            tenant_id=tenant_id,
            client_id=client.client_id,
            subject=family.user_id,
            auth_time=family.auth_time,
            session_id=family.session_id,
            access_token=issued.value,
            nonce=nonce,
            ttl=ctx.settings.id_token_ttl,
            now=now,
        )
    ctx.audit.emit(
        "token.issued",
        tenant_id=tenant_id,
        client_id=client.client_id,
        iss=issuer,
        aud=family.audience,
        scope=scope,
        jti=issued.jti,
        kid=issued.kid,
        grant_type=grant_type,
        token_format=issued.token_format,
    )
    return json_response(body)
