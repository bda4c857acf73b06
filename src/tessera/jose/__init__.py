"""Token formats, pure functions, no I/O: algorithms, JWK/JWKS, compact JWS, JWT claims.

Imports nothing of Tessera's but the leaf module :mod:`tessera.errors`.
"""

from tessera.jose.algorithms import ALGORITHMS, Algorithm, get_algorithm
from tessera.jose.claims import Claims, ClaimsPolicy
from tessera.jose.jwk import SigningKey, SymmetricKey, VerificationKey, thumbprint
from tessera.jose.jwks import KeySet
from tessera.jose.jws import KeyResolver, sign_compact, verify_compact
from tessera.jose.jwt import encode_jwt
from tessera.jose.unverified import peek_unverified_claims, peek_unverified_header

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "Claims",
    "ClaimsPolicy",
    "KeyResolver",
    "KeySet",
    "SigningKey",
    "SymmetricKey",
    "VerificationKey",
    "encode_jwt",
    "get_algorithm",
    "peek_unverified_claims",
    "peek_unverified_header",
    "sign_compact",
    "thumbprint",
    "verify_compact",
]
