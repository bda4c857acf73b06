"""Revoking a grant (a refresh family) and every access token issued under it.

Used by refresh-token reuse detection, authorization-code replay (RFC 9700 §4.5.3.1,
§4.14.2), logout, and ``/revoke`` of a refresh token. The family is marked revoked in the
database first (that alone kills every refresh token of it); then each live access token's
``jti`` is denied and published, exactly like a single revocation, so verifiers following
the feed drop them too.
"""

from __future__ import annotations

from tessera.server.context import ServerContext
from tessera.server.denial import deny_jti

__all__ = ["revoke_family"]


async def revoke_family(
    ctx: ServerContext, tenant_id: str, family_id: str, *, reason: str, now: float
) -> bool:
    """Revoke ``family_id``; True when this call revoked it (idempotent)."""
    newly, live = await ctx.store.revoke_family(family_id, reason=reason, now=now)
    for access in live:
        await deny_jti(ctx, tenant_id, access.jti, access.expires_at, now)
    return newly
