"""Discovery (RFC 8414, OpenID Connect Discovery 1.0) and the JWKS (RFC 7517 §5).

Metadata lives at ``{issuer}/.well-known/openid-configuration`` and, by RFC 8414 §3's path
rule, at ``{public_url}/.well-known/oauth-authorization-server/t/{tenant}``. It states only
what this server really does. The JWKS carries the tenant's published keys (next, active and
retiring) with ``Cache-Control: max-age`` no longer than the lead with which a next key is
published, so a verifier that honours it always knows a key before it signs.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tessera.server.context import ServerContext
from tessera.server.endpoints.common import context, known_tenant
from tessera.server.responses import json_response

__all__ = ["jwks_endpoint", "metadata_document", "metadata_endpoint"]

_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def metadata_document(ctx: ServerContext, tenant_id: str) -> dict[str, Any]:
    issuer = ctx.issuer(tenant_id)
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "pushed_authorization_request_endpoint": f"{issuer}/par",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "end_session_endpoint": f"{issuer}/logout",
        "jwks_uri": f"{issuer}/jwks.json",
        "introspection_endpoint": f"{issuer}/introspect",
        "revocation_endpoint": f"{issuer}/revoke",
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "scopes_supported": ["openid", "profile", "email"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ctx.settings.signing_alg],
        "claims_supported": ["sub", "name", "email", "email_verified", "auth_time", "sid"],
        "prompt_values_supported": ["none", "login", "consent"],
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_pushed_authorization_requests": False,
        "token_endpoint_auth_methods_supported": [*_AUTH_METHODS, "none"],
        "introspection_endpoint_auth_methods_supported": _AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": [*_AUTH_METHODS, "none"],
        "token_endpoint_auth_signing_alg_values_supported": [],
        "access_token_signing_alg_values_supported": [ctx.settings.signing_alg],
        "resource_indicators_supported": True,
        "tls_client_certificate_bound_access_tokens": False,
    }


def _not_found() -> Response:
    return json_response({"error": "invalid_request", "error_description": "unknown tenant"}, 404)


async def metadata_endpoint(request: Request) -> Response:
    ctx = context(request)
    tenant_id = await known_tenant(ctx, request)
    if tenant_id is None:
        return _not_found()
    return json_response(metadata_document(ctx, tenant_id), max_age=ctx.settings.jwks_max_age)


async def jwks_endpoint(request: Request) -> Response:
    ctx = context(request)
    tenant_id = await known_tenant(ctx, request)
    if tenant_id is None:
        return _not_found()
    now = ctx.clock()
    snapshot = await ctx.keys.keys_for(tenant_id, now)
    return Response(
        snapshot.jwks_json(now),
        media_type="application/jwk-set+json",
        headers={"Cache-Control": f"public, max-age={ctx.settings.jwks_max_age}"},
    )
