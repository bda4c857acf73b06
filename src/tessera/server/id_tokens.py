"""OpenID Connect ID tokens: minting (Core §2, §3.1.3.6) and reading an ``id_token_hint``.

An ID token is for the client (``aud`` = its ``client_id``), never for an API; it is signed
with the tenant's current key (ES256 by default) and typed ``JWT`` so that no resource server
pinned to ``at+jwt`` can mistake it for an access token (RFC 8725 §3.11). It carries
``at_hash`` (Core §3.1.3.6), the ``nonce`` of the authorization request (replay protection
for the client, §3.1.2.1), ``auth_time`` and the session id ``sid`` (RP-initiated logout).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from tessera.errors import InvalidRequest, TesseraError
from tessera.jose.b64 import b64url_encode
from tessera.jose.jws import verify_compact
from tessera.jose.jwt import encode_jwt
from tessera.jose.strict_json import loads_object
from tessera.keys.manager import KeyManager
from tessera.server.issuance import TokenIssuer

__all__ = ["IdTokenHint", "at_hash", "mint_id_token", "read_id_token_hint"]

_HASHES: Final = {
    "256": hashlib.sha256,
    "384": hashlib.sha384,
    "512": hashlib.sha512,
}


def at_hash(access_token: str, alg: str) -> str:
    """Core §3.1.3.6: left half of the hash of the token's ASCII, with the JWS alg's hash.

    EdDSA has no hash in its name; SHA-512 (Ed25519's own) is what implementations use.
    """
    digest = _HASHES.get(alg[-3:], hashlib.sha512)(access_token.encode("ascii")).digest()
    return b64url_encode(digest[: len(digest) // 2])


async def mint_id_token(
    issuer_keys: TokenIssuer,
    *,
    issuer: str,
    tenant_id: str,
    client_id: str,
    subject: str,
    auth_time: float,
    session_id: str | None,
    access_token: str,
    nonce: str | None,
    ttl: int,
    now: float,
    claims: Mapping[str, Any] | None = None,
) -> str:
    signer = await issuer_keys.signer(tenant_id, now)
    issued_at = int(now)
    body: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": client_id,
        "azp": client_id,
        "exp": issued_at + ttl,
        "iat": issued_at,
        "auth_time": int(auth_time),
        "at_hash": at_hash(access_token, signer.alg.name),
    }
    if nonce is not None:
        body["nonce"] = nonce
    if session_id is not None:
        body["sid"] = session_id
    body.update(claims or {})
    return encode_jwt(body, signer, typ="JWT")


@dataclass(frozen=True, slots=True)
class IdTokenHint:
    subject: str
    client_id: str
    session_id: str | None


async def read_id_token_hint(
    keys: KeyManager, *, issuer: str, tenant_id: str, token: str, now: float
) -> IdTokenHint:
    """RP-Initiated Logout §2: an ID token we issued, signature and issuer verified.

    An expired one is accepted (the RP may hold it long after it expired, and it only
    identifies whom to log out); a forged or foreign one is not.
    """
    if len(token) > 8192:
        raise InvalidRequest("id_token_hint is too large")
    try:
        snapshot = await keys.keys_for(tenant_id, now)
        published = snapshot.published(now)
        _header, payload, _key = verify_compact(
            token,
            snapshot.verification_keys(now),
            algorithms=frozenset(k.alg for k in published),
            typ="jwt",
        )
        claims = loads_object(payload, "payload")
    except TesseraError:
        raise InvalidRequest("id_token_hint is not a valid ID token of this issuer") from None
    aud, sub, sid = claims.get("aud"), claims.get("sub"), claims.get("sid")
    if claims.get("iss") != issuer or not isinstance(aud, str) or not isinstance(sub, str):
        raise InvalidRequest("id_token_hint is not a valid ID token of this issuer")
    return IdTokenHint(sub, aud, sid if isinstance(sid, str) else None)
