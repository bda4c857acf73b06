"""Reading a token we issued, for introspection (RFC 7662) and revocation (RFC 7009).

A JWT is verified against the tenant's own published keys and issuer, exactly as a resource
server would (signature, ``typ``, ``iss``, time claims with the configured skew); an opaque
token is looked up by the hash of its value. Anything else is simply not one of ours.
"""

from __future__ import annotations

from dataclasses import dataclass

from tessera.errors import TesseraError
from tessera.jose.claims import ClaimsPolicy
from tessera.jose.jws import verify_compact
from tessera.jose.strict_json import loads_object
from tessera.server.context import ServerContext
from tessera.server.issuance import OPAQUE_PREFIX, opaque_hash

__all__ = ["TokenFacts", "inspect_token"]


@dataclass(frozen=True, slots=True)
class TokenFacts:
    token_format: str
    jti: str
    client_id: str
    subject: str
    audience: tuple[str, ...]
    scope: str
    issued_at: float
    expires_at: float
    not_before: float | None
    opaque_hash: bytes | None = None
    # Opaque records are read together with their revocation state (one query).
    revocation_checked: bool = False


async def inspect_token(
    ctx: ServerContext, tenant_id: str, token: str, now: float
) -> TokenFacts | None:
    """The facts of a live token this tenant issued, or None (unknown, expired, malformed)."""
    if len(token) > 8192:
        return None
    if token.startswith(OPAQUE_PREFIX):
        return await _inspect_opaque(ctx, tenant_id, token, now)
    return await _inspect_jwt(ctx, tenant_id, token, now)


async def _inspect_opaque(
    ctx: ServerContext, tenant_id: str, token: str, now: float
) -> TokenFacts | None:
    digest = opaque_hash(token)
    record = await ctx.store.find_live_opaque(digest, now=now)
    if record is None or record.tenant_id != tenant_id:
        return None
    return TokenFacts(
        token_format="opaque",
        jti=record.jti,
        client_id=record.client_id,
        subject=record.subject,
        audience=record.audience,
        scope=record.scope,
        issued_at=record.issued_at,
        expires_at=record.expires_at,
        not_before=None,
        opaque_hash=digest,
        revocation_checked=True,
    )


async def _inspect_jwt(
    ctx: ServerContext, tenant_id: str, token: str, now: float
) -> TokenFacts | None:
    snapshot = await ctx.keys.keys_for(tenant_id, now)
    published = snapshot.published(now)
    if not published:
        return None
    try:
        keys = snapshot.verification_keys(now)
        _header, payload, _key = verify_compact(
            token, keys, algorithms=frozenset(k.alg for k in published), typ="at+jwt"
        )
        claims = loads_object(payload, "payload")
        aud = claims.get("aud")
        audiences = (aud,) if isinstance(aud, str) else aud if isinstance(aud, tuple) else ()
        policy = ClaimsPolicy(
            issuer=ctx.issuer(tenant_id),
            audience=audiences or ("-",),
            leeway=0,  # the issuer's own clock is authoritative (RFC 7662 §2.2)
            required=frozenset({"jti", "client_id", "sub", "iat"}),
        )
        exp, nbf, iat = policy.check(claims, now)
    except TesseraError:
        return None
    return TokenFacts(
        token_format="jwt",
        jti=claims["jti"],
        client_id=claims["client_id"],
        subject=claims["sub"],
        audience=audiences,
        scope=claims.get("scope", ""),
        issued_at=float(iat or 0),
        expires_at=float(exp),
        not_before=nbf,
    )
