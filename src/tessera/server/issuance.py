"""Issuing access tokens: RFC 9068 JWTs or opaque tokens, per client.

JWT claims are minimal (DESIGN.md): ``iss sub aud exp iat nbf jti client_id scope
tenant_id``, never personal data. A client-credentials token's ``sub`` is
``client:{client_id}``; user subjects are opaque UUIDs without a colon, so the two can never
collide (RFC 9068 §2.2, RFC 9700 §4.15).

Opaque tokens are 256 random bits with a ``tat_`` prefix; only their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from tessera.errors import ConfigurationError
from tessera.jose.jwk import SigningKey
from tessera.jose.jwt import encode_jwt
from tessera.keys.manager import KeyManager
from tessera.storage.protocols import OpaqueTokenStore
from tessera.storage.records import Client, OpaqueToken

__all__ = [
    "OPAQUE_PREFIX",
    "IssuedToken",
    "TokenIssuer",
    "client_subject",
    "new_jti",
    "opaque_hash",
]

OPAQUE_PREFIX: Final = "tat_"


def client_subject(client_id: str) -> str:
    return f"client:{client_id}"


def new_jti() -> str:
    return secrets.token_hex(16)  # 128 random bits, as uuid4 minus its cost


def opaque_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    value: str
    jti: str
    expires_in: int
    token_format: str
    kid: str | None


class TokenIssuer:
    def __init__(self, keys: KeyManager, opaque: OpaqueTokenStore) -> None:
        self._keys = keys
        self._opaque = opaque

    async def signer(self, tenant_id: str, now: float) -> SigningKey:
        """The tenant's active signing key (created if the tenant has none yet)."""
        try:
            return (await self._keys.keys_for(tenant_id, now)).signer(now)
        except ConfigurationError:
            # A tenant added without keys (or all retired): create one rather than fail.
            await self._keys.ensure(tenant_id, now)
            return (await self._keys.keys_for(tenant_id, now)).signer(now)

    async def issue(
        self,
        *,
        issuer: str,
        tenant_id: str,
        client: Client,
        subject: str,
        audience: str,
        scope: str,
        ttl: int,
        now: float,
        jti: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> IssuedToken:
        """``jti`` may be chosen by the caller (a grant records it before issuing);
        ``extra`` adds claims such as ``auth_time`` (never personal data)."""
        jti = jti or new_jti()
        issued_at = int(now)
        if client.token_format == "opaque":
            value = OPAQUE_PREFIX + secrets.token_urlsafe(32)
            await self._opaque.add_opaque(
                OpaqueToken(
                    token_hash=opaque_hash(value),
                    tenant_id=tenant_id,
                    client_id=client.client_id,
                    subject=subject,
                    audience=(audience,),
                    scope=scope,
                    jti=jti,
                    issued_at=issued_at,
                    expires_at=issued_at + ttl,
                )
            )
            return IssuedToken(value, jti, ttl, "opaque", None)
        signer = await self.signer(tenant_id, now)
        claims = {
            "iss": issuer,
            "sub": subject,
            "aud": audience,
            "exp": issued_at + ttl,
            "iat": issued_at,
            "nbf": issued_at,
            "jti": jti,
            "client_id": client.client_id,
            "scope": scope,
            "tenant_id": tenant_id,
            **(extra or {}),
        }
        return IssuedToken(encode_jwt(claims, signer), jti, ttl, "jwt", signer.kid)
