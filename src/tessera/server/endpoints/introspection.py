"""``POST {issuer}/introspect`` (RFC 7662).

Steps: known tenant → strict form → client authentication → ``token`` present → inspect
(our signature, issuer, time; or our opaque record) → not revoked → the caller may learn
about it. A caller learns only about tokens whose audience it serves (its registered
``introspect`` audiences). Everything inactive, unknown, foreign or forbidden gives
``{"active": false}`` and nothing else (§2.2), so the answer never tells which.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from tessera.server.context import ServerContext
from tessera.server.endpoints.common import Form, client_endpoint, required
from tessera.server.inspection import TokenFacts, inspect_token
from tessera.server.responses import json_response
from tessera.storage.records import Client

__all__ = ["INTROSPECT_AUDIENCES", "introspection_endpoint", "may_introspect"]

# Client metadata key: the resource identifiers this client serves as a resource server.
INTROSPECT_AUDIENCES = "introspect_audiences"
_INACTIVE = {"active": False}


def may_introspect(client: Client, facts: TokenFacts) -> bool:
    """RFC 7662 §2.1/§4: the caller must be a resource server the token is meant for."""
    allowed = client.metadata.get(INTROSPECT_AUDIENCES) or ()
    return any(aud in allowed for aud in facts.audience)


async def _introspect(
    ctx: ServerContext, tenant_id: str, client: Client, form: Form, now: float
) -> Response:
    token = required(form, "token")
    facts = await inspect_token(ctx, tenant_id, token, now)
    active = (
        facts is not None
        and may_introspect(client, facts)
        and (
            facts.revocation_checked
            or not await ctx.store.is_revoked(tenant_id, facts.jti, now=now)
        )
    )
    ctx.audit.emit(
        "token.introspected",
        tenant_id=tenant_id,
        client_id=client.client_id,
        jti=facts.jti if facts is not None and active else None,
        active=active,
    )
    if not active or facts is None:
        return json_response(_INACTIVE)
    body: dict[str, Any] = {
        "active": True,
        "scope": facts.scope,
        "client_id": facts.client_id,
        "sub": facts.subject,
        "aud": facts.audience[0] if len(facts.audience) == 1 else list(facts.audience),
        "iss": ctx.issuer(tenant_id),
        "exp": int(facts.expires_at),
        "iat": int(facts.issued_at),
        "jti": facts.jti,
        "token_type": "Bearer",
        "tenant_id": tenant_id,
    }
    if facts.not_before is not None:
        body["nbf"] = int(facts.not_before)
    return json_response(body)


introspection_endpoint = client_endpoint(_introspect)
