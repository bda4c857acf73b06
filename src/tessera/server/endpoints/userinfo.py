"""``GET|POST {issuer}/userinfo`` (OpenID Connect Core §5.3).

Steps: known tenant → a Bearer access token (RFC 6750 §2.1; a token in the query string is
refused, §2.3 and RFC 9700 §4.3.2) → a live token of this issuer (signature, ``typ``,
``iss``, time, not revoked) → it was granted ``openid`` → a user's subject, still enabled →
the claims its scopes allow (``profile`` → name, ``email`` → email).

Any audience of this issuer is accepted: the issuer itself is the resource here, and a
token for one of its APIs already proves the same grant.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tessera.server.endpoints.common import context, known_tenant
from tessera.server.inspection import inspect_token
from tessera.server.responses import json_response

__all__ = ["userinfo_endpoint"]


def _refuse(status: int, error: str, description: str) -> Response:
    challenge = f'Bearer error="{error}", error_description="{description}"'
    return json_response(
        {"error": error, "error_description": description},
        status,
        {"WWW-Authenticate": challenge},
    )


async def userinfo_endpoint(request: Request) -> Response:
    ctx = context(request)
    tenant_id = await known_tenant(ctx, request)
    if tenant_id is None:
        return json_response(
            {"error": "invalid_request", "error_description": "unknown tenant"}, 404
        )
    if "access_token" in request.query_params:
        return _refuse(400, "invalid_request", "send the token in the Authorization header")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return json_response({}, 401, {"WWW-Authenticate": 'Bearer realm="tessera"'})
    now = ctx.clock()
    facts = await inspect_token(ctx, tenant_id, token.strip(), now)
    if facts is None or (
        not facts.revocation_checked and await ctx.store.is_revoked(tenant_id, facts.jti, now=now)
    ):
        return _refuse(401, "invalid_token", "the access token is invalid")
    scopes = frozenset(facts.scope.split())
    if "openid" not in scopes:
        return _refuse(403, "insufficient_scope", "the token was not granted openid")
    user = await ctx.store.get_user(tenant_id, facts.subject) if ":" not in facts.subject else None
    if user is None or user.disabled:
        return _refuse(401, "invalid_token", "the access token is invalid")
    claims: dict[str, Any] = {"sub": user.user_id}
    if "profile" in scopes and user.name:
        claims["name"] = user.name
    if "email" in scopes:
        claims["email"] = user.email
        claims["email_verified"] = False  # Tessera does not verify addresses itself
    return json_response(claims)
