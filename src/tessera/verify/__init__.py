"""The resource-server side: validate access tokens strictly, locally, in microseconds.

Importable with ``tessera[verify]`` alone: nothing here imports the server's dependencies.
"""

from tessera.jose.claims import Claims
from tessera.jose.jwks import KeySet
from tessera.verify.cache import VerifiedTokenCache
from tessera.verify.fetch import FetchPolicy
from tessera.verify.introspection import IntrospectionVerifier
from tessera.verify.middleware import BearerAuthMiddleware
from tessera.verify.remote_jwks import JwksCachePolicy, RemoteJwks
from tessera.verify.revocation import RedisRevocationSubscriber, RevocationFeed
from tessera.verify.verifier import Verifier
from tessera.verify.verifier_set import VerifierSet

__all__ = [
    "BearerAuthMiddleware",
    "Claims",
    "FetchPolicy",
    "IntrospectionVerifier",
    "JwksCachePolicy",
    "KeySet",
    "RedisRevocationSubscriber",
    "RemoteJwks",
    "RevocationFeed",
    "VerifiedTokenCache",
    "Verifier",
    "VerifierSet",
]
