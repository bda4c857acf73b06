"""``POST {issuer}/revoke`` (RFC 7009).

Steps: known tenant → strict form → client authentication → ``token`` present → inspect →
the token belongs to the caller (§2.1) → revoke: a JWT's ``jti`` is denied until its
``exp``; an opaque token is deleted (and its ``jti`` denied, so caches drop it). Every
revocation is published on the event bus. An invalid or unknown token still gets 200
(§2.2): revocation must not become a token-validity oracle.
"""

from __future__ import annotations

import structlog
from starlette.responses import Response

from tessera.errors import UnauthorizedClient
from tessera.events.bus import RevocationEvent
from tessera.server.context import ServerContext
from tessera.server.endpoints.common import Form, client_endpoint, required
from tessera.server.inspection import TokenFacts, inspect_token
from tessera.server.responses import NO_STORE
from tessera.storage.records import Client

__all__ = ["revocation_endpoint", "revoke_facts"]

_log = structlog.get_logger("tessera.server")


async def revoke_facts(ctx: ServerContext, tenant_id: str, facts: TokenFacts, now: float) -> bool:
    """Deny the token's ``jti`` (and delete an opaque record); publish the event."""
    if facts.opaque_hash is not None:
        await ctx.store.delete_opaque(facts.opaque_hash)
    # Verifiers accept a token until exp + their leeway: deny it at least that long.
    until = facts.expires_at + ctx.settings.clock_skew
    newly = await ctx.store.revoke_jti(tenant_id, facts.jti, expires_at=until, now=now)
    try:
        await ctx.bus.publish(RevocationEvent("jti", tenant_id, facts.jti, until, issued_at=now))
    except Exception:  # noqa: BLE001 - the feed is down: the database already holds it
        # Introspection sees the revocation at once; verifiers following the feed see its
        # silence and fail closed after max_staleness. The caller's revocation succeeded.
        _log.warning("revocation stored but not published", tenant_id=tenant_id, jti=facts.jti)
    return newly


async def _revoke(
    ctx: ServerContext, tenant_id: str, client: Client, form: Form, now: float
) -> Response:
    token = required(form, "token")
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


revocation_endpoint = client_endpoint(_revoke)
