"""RFC 6749 §6 refresh grant, with rotation on every use and reuse detection
(OAuth 2.1 §4.3.1, RFC 9700 §4.14.2), race-safe by a compare-and-set in the database.

State machine of one refresh token (a row of ``refresh_tokens``)::

    LIVE ──first use: CAS wins──▶ ROTATED(at t, into S) ──any other use──▶ REUSE
      │                               │                                    (family revoked,
      │                               └─use by the SAME client, t+grace ≥ now,   invalid_grant,
      │                                 S itself not used yet, family live       refresh.
      │                                 ──▶ answered with S again (idempotent)   reuse_detected)
      └─idle end (issued + 8 h) or family's absolute end (30 d) ──▶ invalid_grant

    A family (one grant) is LIVE until revoked — by reuse, by a replayed authorization code,
    by logout, or by ``/revoke`` of any of its refresh tokens — and a revoked family's tokens
    are all dead. Revoking it also denies the ``jti`` of every access token it issued.

The compare-and-set: ``UPDATE refresh_tokens SET rotated_at = now, successor_hash = h(S)
WHERE token_hash = h(P) AND rotated_at IS NULL`` (with the family checked unrevoked) and the
INSERT of S run in ONE transaction (``RefreshStore.rotate_refresh``). Of N concurrent uses
exactly one wins; the others see ``rotated_at`` set. A crash before commit leaves P live
and no S; after commit, P is rotated and S exists: never a fork, never a half-written family.

Why the grace window (default 5 s, ``refresh_grace_period``; 0 disables it): a mobile client
on a bad network sends its refresh, the server rotates, the answer is lost, the client
retries with the same token. Without a window that retry is indistinguishable from theft and
logs the user out. With it, the retry gets the SAME successor S: no fork (S is the one
token of the next generation), and S is re-derived rather than stored — ``S = HMAC(k, P)``
under a server key, so the database still holds only hashes.

The trade-off, stated plainly: an attacker who has stolen P AND the client's credentials
and presents P within the window after the legitimate use receives S too. For confidential
clients this needs the client secret as well; for public clients (no authentication) the
window is a real, if short, exposure — set ``refresh_grace_period = 0`` if retries are not
a concern for your clients. Once S has been used, P is dead for everyone: any use of it is
reuse. Outside the window any use of P is reuse.
"""

from __future__ import annotations

from starlette.responses import Response

from tessera.errors import InvalidGrant
from tessera.server.context import ServerContext
from tessera.server.families import revoke_family
from tessera.server.forms import single
from tessera.server.grants.scopes import Form, access_token_ttl, requested_resource, shrink_scope
from tessera.server.grants.user_tokens import (
    is_refresh_shaped,
    refresh_hash,
    respond_with_tokens,
    successor_value,
)
from tessera.server.issuance import new_jti
from tessera.storage.records import Client
from tessera.storage.user_records import FamilyToken, RefreshFamily, RefreshToken

__all__ = ["refresh_token_grant"]

_INVALID = "the refresh token is invalid, expired or revoked"


def check_family_usable(family: RefreshFamily, client: Client, now: float) -> None:
    """RFC 6749 §6/§10.4: bound to its client; dead once revoked or past its absolute end."""
    if family.client_id != client.client_id:
        # A token of client A is useless to client B (RFC 6749 §6 "bound to the client").
        raise InvalidGrant(_INVALID)
    if family.revoked_at is not None or now >= family.expires_at:
        raise InvalidGrant(_INVALID)


async def check_user_enabled(ctx: ServerContext, family: RefreshFamily) -> None:
    """A disabled or deleted user's grants stop working at their next refresh."""
    user = await ctx.store.get_user(family.tenant_id, family.user_id)
    if user is None or user.disabled:
        raise InvalidGrant(_INVALID)


def check_resource(form: Form, family: RefreshFamily) -> None:
    """RFC 8707 §2.2: a refresh may name the grant's resource, not another one."""
    resource = requested_resource(form)
    if resource is not None and resource != family.audience:
        raise InvalidGrant("the refresh token was not granted for that resource")


async def refresh_token_grant(
    ctx: ServerContext, tenant_id: str, client: Client, form: Form, now: float
) -> Response:
    value = single(form, "refresh_token")
    if value is None:
        raise InvalidGrant("refresh_token is required")
    found = await ctx.store.get_refresh(refresh_hash(value)) if is_refresh_shaped(value) else None
    if found is None or found[0].tenant_id != tenant_id:
        raise InvalidGrant(_INVALID)
    token, family = found
    check_family_usable(family, client, now)
    await check_user_enabled(ctx, family)
    scope = shrink_scope(form, token.scope)
    check_resource(form, family)
    ttl = access_token_ttl(client, ctx.settings.access_token_ttl_user)
    jti = new_jti()
    access = FamilyToken(family.family_id, tenant_id, jti, float(int(now) + ttl))
    successor = successor_value(ctx, value)

    if token.rotated_at is None:
        if now >= token.expires_at:
            raise InvalidGrant(_INVALID)  # idle lifetime over
        record = RefreshToken(
            token_hash=refresh_hash(successor),
            family_id=family.family_id,
            tenant_id=tenant_id,
            client_id=client.client_id,
            generation=token.generation + 1,
            scope=token.scope,  # RFC 6749 §6: the new token keeps the grant's scope
            issued_at=now,
            expires_at=min(now + ctx.settings.refresh_idle_ttl, family.expires_at),
        )
        # The rotation is audited by the "token.issued" line (grant_type=refresh_token).
        if await ctx.store.rotate_refresh(
            token.token_hash, successor=record, access=access, now=now
        ):
            return await _respond(ctx, tenant_id, client, family, scope, jti, successor, now)
        # Lost the race (or the family was revoked meanwhile): judge it as a used token.
        found = await ctx.store.get_refresh(token.token_hash)
        if found is None:
            raise InvalidGrant(_INVALID)
        token, family = found
        check_family_usable(family, client, now)

    if await _within_grace(ctx, token, now):
        if not await ctx.store.record_access(access):
            raise InvalidGrant(_INVALID)  # the family was revoked meanwhile
        ctx.audit.emit(
            "refresh.retry_within_grace", tenant_id=tenant_id, client_id=client.client_id, jti=jti
        )
        return await _respond(ctx, tenant_id, client, family, scope, jti, successor, now)

    await revoke_family(ctx, tenant_id, family.family_id, reason="refresh_reuse", now=now)
    ctx.audit.emit(
        "refresh.reuse_detected",
        tenant_id=tenant_id,
        client_id=client.client_id,
        outcome="family_revoked",
    )
    raise InvalidGrant(_INVALID)


async def _within_grace(ctx: ServerContext, token: RefreshToken, now: float) -> bool:
    """A retry: rotated moments ago, and its successor not used yet (then it is reuse)."""
    grace = ctx.settings.refresh_grace_period
    if token.rotated_at is None or token.successor_hash is None or grace <= 0:
        return False
    if now - token.rotated_at > grace:
        return False
    child = await ctx.store.get_refresh(token.successor_hash)
    return child is not None and child[0].rotated_at is None


async def _respond(
    ctx: ServerContext,
    tenant_id: str,
    client: Client,
    family: RefreshFamily,
    scope: str,
    jti: str,
    successor: str,
    now: float,
) -> Response:
    return await respond_with_tokens(
        ctx,
        tenant_id=tenant_id,
        client=client,
        family=family,
        scope=scope,
        jti=jti,
        refresh_value=successor,
        nonce=None,
        now=now,
        grant_type="refresh_token",
    )
