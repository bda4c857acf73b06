"""The resource-server side: validate access tokens strictly, locally, in microseconds.

Importable with ``tessera[verify]`` alone: nothing here imports the server's dependencies.
"""

from tessera.jose.claims import Claims
from tessera.jose.jwks import KeySet
from tessera.verify.cache import VerifiedTokenCache
from tessera.verify.verifier import Verifier

__all__ = ["Claims", "KeySet", "VerifiedTokenCache", "Verifier"]
