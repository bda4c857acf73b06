"""RFC 6749 §4.1.3 authorization code grant, with PKCE (RFC 7636) always.

Check steps, each one rule; every failure is ``invalid_grant`` (RFC 6749 §5.2):

1. ``known_code`` — the code exists in this tenant;
2. ``not_replayed`` — a code already redeemed revokes what its first redemption issued
   (RFC 6749 §4.1.2, RFC 9700 §4.5.3.1: "revoke all tokens previously issued");
3. ``same_client`` — it was issued to the authenticated client (§4.1.3);
4. ``fresh`` — younger than its lifetime (60 s by default);
5. ``same_redirect_uri`` — identical to the one of the authorization request (§4.1.3);
6. ``pkce`` — ``BASE64URL(SHA256(code_verifier)) == code_challenge`` (RFC 7636 §4.6);
   then the user must still be enabled;
7. redeem: ONE transaction marks the code consumed (compare-and-set) and creates the family
   with its first refresh token; losing that race is a replay (step 2).
"""

from __future__ import annotations

from starlette.responses import Response

from tessera.errors import InvalidGrant
from tessera.secret import constant_time_equals
from tessera.server.context import ServerContext
from tessera.server.families import revoke_family
from tessera.server.forms import single
from tessera.server.grants.scopes import Form, access_token_ttl
from tessera.server.grants.user_tokens import new_refresh_value, refresh_hash, respond_with_tokens
from tessera.server.issuance import new_jti, opaque_hash
from tessera.server.pkce import check_verifier
from tessera.storage.records import Client
from tessera.storage.user_records import (
    AuthorizationCode,
    FamilyToken,
    RefreshFamily,
    RefreshToken,
)

__all__ = ["CODE_PREFIX", "authorization_code_grant"]

CODE_PREFIX = "tac_"
_INVALID = "the authorization code is invalid, expired or already used"


async def _replayed(ctx: ServerContext, code: AuthorizationCode, now: float) -> InvalidGrant:
    await revoke_family(ctx, code.tenant_id, code.family_id, reason="code_replay", now=now)
    ctx.audit.emit(
        "code.replay_detected",
        tenant_id=code.tenant_id,
        client_id=code.client_id,
        outcome="family_revoked",
    )
    return InvalidGrant(_INVALID)


async def authorization_code_grant(
    ctx: ServerContext, tenant_id: str, client: Client, form: Form, now: float
) -> Response:
    value = single(form, "code")
    if value is None:
        raise InvalidGrant("code is required")
    code = None
    if value.startswith(CODE_PREFIX) and len(value) <= 128:
        code = await ctx.store.get_code(opaque_hash(value))
    if code is None or code.tenant_id != tenant_id:
        raise InvalidGrant(_INVALID)
    if code.consumed_at is not None:
        raise await _replayed(ctx, code, now)
    if code.client_id != client.client_id:
        raise InvalidGrant(_INVALID)
    if now >= code.expires_at:
        raise InvalidGrant(_INVALID)
    redirect_uri = single(form, "redirect_uri")
    if redirect_uri is None or not constant_time_equals(redirect_uri, code.redirect_uri):
        raise InvalidGrant("redirect_uri does not match the authorization request")
    check_verifier(single(form, "code_verifier"), code.code_challenge)
    user = await ctx.store.get_user(tenant_id, code.user_id)
    if user is None or user.disabled:
        raise InvalidGrant(_INVALID)  # disabled since the login: nothing more is issued

    family = RefreshFamily(
        family_id=code.family_id,
        tenant_id=tenant_id,
        client_id=client.client_id,
        user_id=code.user_id,
        session_id=code.session_id,
        scope=code.scope,
        audience=code.audience,
        auth_time=code.auth_time,
        created_at=now,
        expires_at=now + ctx.settings.refresh_absolute_ttl,
    )
    refresh_value = None
    first = None
    if "refresh_token" in client.grant_types:
        refresh_value = new_refresh_value()
        first = RefreshToken(
            token_hash=refresh_hash(refresh_value),
            family_id=family.family_id,
            tenant_id=tenant_id,
            client_id=client.client_id,
            generation=0,
            scope=code.scope,
            issued_at=now,
            expires_at=min(now + ctx.settings.refresh_idle_ttl, family.expires_at),
        )
    jti = new_jti()
    ttl = access_token_ttl(client, ctx.settings.access_token_ttl_user)
    access = FamilyToken(family.family_id, tenant_id, jti, float(int(now) + ttl))
    if not await ctx.store.redeem_code(
        code.code_hash, now=now, family=family, first=first, access=access
    ):
        raise await _replayed(ctx, code, now)
    return await respond_with_tokens(
        ctx,
        tenant_id=tenant_id,
        client=client,
        family=family,
        scope=code.scope,
        jti=jti,
        refresh_value=refresh_value,
        nonce=code.nonce,
        now=now,
        grant_type="authorization_code",
    )
