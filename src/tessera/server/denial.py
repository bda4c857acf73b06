"""Denying one access token's ``jti``: stored first, then published to every verifier."""

from __future__ import annotations

import structlog

from tessera.events.bus import RevocationEvent
from tessera.server.context import ServerContext

__all__ = ["deny_jti"]

_log = structlog.get_logger("tessera.server")


async def deny_jti(
    ctx: ServerContext, tenant_id: str, jti: str, expires_at: float, now: float
) -> bool:
    """Deny ``jti`` in the database, then publish it; True when newly denied."""
    # Verifiers accept a token until exp + their leeway: deny it at least that long.
    until = expires_at + ctx.settings.clock_skew
    newly = await ctx.store.revoke_jti(tenant_id, jti, expires_at=until, now=now)
    try:
        await ctx.bus.publish(RevocationEvent("jti", tenant_id, jti, until, issued_at=now))
    except Exception:  # noqa: BLE001 - the feed is down: the database already holds it
        # Introspection sees the revocation at once; verifiers following the feed see its
        # silence and fail closed after max_staleness. The caller's revocation succeeded.
        _log.warning("revocation stored but not published", tenant_id=tenant_id, jti=jti)
    return newly
