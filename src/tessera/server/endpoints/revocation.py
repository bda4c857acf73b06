"""``POST {issuer}/revoke`` (RFC 7009).

Steps: known tenant → strict form → client authentication → ``token`` present → inspect →
the token belongs to the caller (§2.1) → revoke: a JWT's ``jti`` is denied until its
``exp``; an opaque token is deleted (and its ``jti`` denied, so caches drop it). Every
revocation is published on the event bus. A refresh token revokes its whole family
(DESIGN.md; §2.1 "SHOULD also invalidate"). An invalid or unknown token still gets 200
(§2.2): revocation must not become a token-validity oracle.
"""

from __future__ import annotations

from starlette.responses import Response

from tessera.errors import UnauthorizedClient
from tessera.server.context import ServerContext
from tessera.server.denial import deny_jti
from tessera.server.endpoints.common import Form, client_endpoint, required
from tessera.server.families import revoke_family
from tessera.server.grants.user_tokens import refresh_hash
from tessera.server.inspection import TokenFacts, inspect_token
from tessera.server.responses import NO_STORE
from tessera.storage.records import Client

__all__ = ["revocation_endpoint", "revoke_facts"]


async def revoke_facts(ctx: ServerContext, tenant_id: str, facts: TokenFacts, now: float) -> bool:
    """Deny the token's ``jti`` (and delete an opaque record); publish the event."""
    if facts.opaque_hash is not None:
        await ctx.store.delete_opaque(facts.opaque_hash)
    return await deny_jti(ctx, tenant_id, facts.jti, facts.expires_at, now)


async def _revoke_refresh(
    ctx: ServerContext, tenant_id: str, client: Client, token: str, now: float
) -> None:
    """DESIGN.md: revoking a refresh token revokes its family (RFC 7009 §2.1 "SHOULD")."""
    found = await ctx.store.get_refresh(refresh_hash(token))
    if found is None or found[1].tenant_id != tenant_id:
        return
    family = found[1]
    if family.client_id != client.client_id:
        raise UnauthorizedClient("the token was not issued to this client")
    if await revoke_family(ctx, tenant_id, family.family_id, reason="revoked", now=now):
        ctx.audit.emit(
            "token.revoked",
            tenant_id=tenant_id,
            client_id=client.client_id,
            token_type="refresh_token",
        )


async def _revoke(
    ctx: ServerContext, tenant_id: str, client: Client, form: Form, now: float
) -> Response:
    token = required(form, "token")
    if token.startswith("trt_") and len(token) <= 128:
        await _revoke_refresh(ctx, tenant_id, client, token, now)
        return Response(status_code=200, headers=NO_STORE)
    # token_type_hint is only a hint (§2.1); we find the token by its shape either way.
    facts = await inspect_token(ctx, tenant_id, token, now)
    if facts is not None:
        if facts.client_id != client.client_id:
            raise UnauthorizedClient("the token was not issued to this client")
        await revoke_facts(ctx, tenant_id, facts, now)
        ctx.audit.emit(
            "token.revoked",
            tenant_id=tenant_id,
            client_id=client.client_id,
            jti=facts.jti,
            token_format=facts.token_format,
        )
    return Response(status_code=200, headers=NO_STORE)


revocation_endpoint = client_endpoint(_revoke, allow_public=True)
