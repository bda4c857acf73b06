"""Several issuers at once (multi-tenant APIs): one pinned verifier per exact ``iss``.

The token's ``iss`` is read WITHOUT verification only to pick a verifier; that verifier
then checks everything, ``iss`` included, with its own keys and algorithms. A key of
issuer A can therefore never verify a token that claims issuer B.
"""

from __future__ import annotations

from collections.abc import Iterable

from tessera.errors import ConfigurationError, InvalidIssuer
from tessera.jose.claims import Claims
from tessera.jose.unverified import peek_unverified_claims
from tessera.verify.verifier import Verifier

__all__ = ["VerifierSet"]


class VerifierSet:
    def __init__(self, verifiers: Iterable[Verifier]) -> None:
        by_issuer: dict[str, Verifier] = {}
        for verifier in verifiers:
            if verifier.issuer in by_issuer:
                raise ConfigurationError("two verifiers pin the same issuer")
            by_issuer[verifier.issuer] = verifier
        if not by_issuer:
            raise ConfigurationError("a VerifierSet needs at least one verifier")
        self._by_issuer = by_issuer
        self.max_token_bytes = max(v.max_token_bytes for v in by_issuer.values())

    def _pick(self, token: str) -> Verifier:
        iss = peek_unverified_claims(token, self.max_token_bytes).get("iss")
        verifier = self._by_issuer.get(iss) if isinstance(iss, str) else None
        if verifier is None:
            raise InvalidIssuer("iss is not a trusted issuer")
        return verifier

    def verify(self, token: str, *, now: float | None = None) -> Claims:
        return self._pick(token).verify(token, now=now)

    async def verify_async(self, token: str, *, now: float | None = None) -> Claims:
        return await self._pick(token).verify_async(token, now=now)

    def enable_cache(self, size: int) -> None:
        for verifier in self._by_issuer.values():
            verifier.enable_cache(size)

    @property
    def issuers(self) -> frozenset[str]:
        return frozenset(self._by_issuer)
