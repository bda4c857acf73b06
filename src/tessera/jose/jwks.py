"""Key sets (RFC 7517 §5): the keys trusted for one issuer.

A set is either all asymmetric public keys or all symmetric (HMAC) keys, never both
(RFC 8725 §3.1: otherwise an attacker picks the algorithm that turns a public key into an
HMAC secret). ``kid`` values are unique; a set with a repeated ``kid`` is ambiguous and
refused. ``kid`` is only ever a lookup key among these trusted keys (RFC 8725 §3.10).

:meth:`KeySet.from_jwks` is strict by default (a bad member refuses the whole set, right for
configuration). A verifier fetching a remote JWKS uses ``strict=False``: bad members are
dropped and listed in :attr:`KeySet.rejected`, the good ones stay usable.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

from tessera.errors import (
    AlgorithmNotAllowed,
    InvalidKey,
    InvalidKeySet,
    TesseraError,
    UnknownKey,
)
from tessera.jose.jwk import SymmetricKey, VerificationKey

__all__ = ["KeySet", "TrustedKey"]

TrustedKey = VerificationKey | SymmetricKey


class KeySet:
    """An immutable set of trusted verification keys, indexed by ``kid``."""

    __slots__ = ("_by_alg", "_by_kid", "rejected", "symmetric")

    def __init__(self, keys: Iterable[TrustedKey], *, rejected: Iterable[str] = ()) -> None:
        by_kid: dict[str, TrustedKey] = {}
        kinds: set[bool] = set()
        for key in keys:
            if not isinstance(key, VerificationKey | SymmetricKey):
                raise InvalidKeySet("a key set holds VerificationKey or SymmetricKey objects")
            if key.kid in by_kid:
                raise InvalidKeySet("key set repeats a kid")
            by_kid[key.kid] = key
            kinds.add(isinstance(key, SymmetricKey))
        if len(kinds) > 1:
            raise InvalidKeySet("a key set cannot mix symmetric and asymmetric keys")
        self._by_kid = by_kid
        by_alg: dict[str, list[TrustedKey]] = {}
        for key in by_kid.values():
            by_alg.setdefault(key.alg.name, []).append(key)
        self._by_alg = by_alg
        self.symmetric = kinds == {True}
        self.rejected: tuple[str, ...] = tuple(rejected)

    @classmethod
    def from_jwks(
        cls,
        jwks: Mapping[str, Any] | str | bytes,
        *,
        algorithms: Collection[str] | None = None,
        strict: bool = True,
    ) -> KeySet:
        """Import a public JWKS document ``{"keys": [...]}``.

        ``algorithms`` pins keys that lack ``alg`` (only when one choice fits) and drops
        keys whose ``alg`` is outside it. Symmetric keys are never accepted here: build
        a symmetric set explicitly with :meth:`symmetric_set`.
        """
        doc = _as_document(jwks)
        members = doc.get("keys")
        if not isinstance(members, list):
            raise InvalidKeySet("JWKS must have a 'keys' array")
        imported: list[tuple[str, VerificationKey]] = []
        rejected: list[str] = []
        for index, member in enumerate(members):
            label = f"keys[{index}]"
            try:
                if not isinstance(member, dict):
                    raise InvalidKey("JWKS member is not an object")
                if member.get("use", "sig") != "sig":
                    # Encryption keys may share a JWKS with signing keys; they are not ours.
                    rejected.append(f"{label}: not a signing key")
                    continue
                imported.append((label, VerificationKey.from_jwk(member, algorithms=algorithms)))
            except TesseraError as exc:
                if strict:
                    raise InvalidKeySet(f"{label}: {exc.message}") from exc
                rejected.append(f"{label}: {exc.message}")
        # A kid names one key: every member sharing a kid (given, or the thumbprint of a
        # kid-less key) is ambiguous, so all of them are refused.
        counts: dict[str, int] = {}
        for _label, key in imported:
            counts[key.kid] = counts.get(key.kid, 0) + 1
        keys: list[VerificationKey] = []
        for label, key in imported:
            if counts[key.kid] == 1:
                keys.append(key)
            elif strict:
                raise InvalidKeySet(f"{label}: JWKS repeats this kid")
            else:
                rejected.append(f"{label}: JWKS repeats this kid")
        return cls(keys, rejected=rejected)

    @classmethod
    def symmetric_set(cls, keys: Iterable[SymmetricKey]) -> KeySet:
        """A set of HMAC keys, for a tenant that opted into HS256 (and nothing else)."""
        keys = list(keys)
        if not all(isinstance(k, SymmetricKey) for k in keys):
            raise InvalidKeySet("symmetric_set takes SymmetricKey objects only")
        return cls(keys)

    def resolve(self, kid: object, alg: str) -> TrustedKey:
        """Select the key for a token header, or raise.

        ``kid`` only selects among trusted keys. Without a ``kid`` the one key of that
        algorithm is used; several candidates make a kid-less token ambiguous.
        """
        if kid is None:
            candidates = self._by_alg.get(alg)
            if candidates is None:
                raise AlgorithmNotAllowed("no trusted key for this algorithm")
            if len(candidates) != 1:
                raise UnknownKey("token has no kid and several keys could match")
            return candidates[0]
        if type(kid) is not str:
            raise UnknownKey("kid must be a string")
        key = self._by_kid.get(kid)
        if key is None:
            raise UnknownKey("no trusted key has this kid")
        if key.alg.name != alg:
            # RFC 8725 §3.1: the header's alg must be the key's own (no algorithm confusion).
            raise AlgorithmNotAllowed("alg does not match the key's algorithm")
        return key

    def get(self, kid: str) -> TrustedKey | None:
        return self._by_kid.get(kid)

    def __contains__(self, kid: object) -> bool:
        return kid in self._by_kid

    def __iter__(self) -> Iterator[TrustedKey]:
        return iter(self._by_kid.values())

    def __len__(self) -> int:
        return len(self._by_kid)

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._by_kid)

    def to_jwks(self) -> dict[str, Any]:
        """The public JWKS document (refused for symmetric sets: nothing there is public)."""
        if self.symmetric:
            raise InvalidKeySet("a symmetric key set has no public form")
        return {
            "keys": [k.to_jwk() for k in self._by_kid.values() if isinstance(k, VerificationKey)]
        }

    def __repr__(self) -> str:
        return f"KeySet(kids={sorted(self._by_kid)!r})"


def _as_document(jwks: Mapping[str, Any] | str | bytes) -> Mapping[str, Any]:
    if isinstance(jwks, str | bytes):
        try:
            jwks = json.loads(jwks)
        except (ValueError, RecursionError) as exc:
            raise InvalidKeySet("JWKS is not valid JSON") from exc
    if not isinstance(jwks, Mapping):
        raise InvalidKeySet("JWKS must be a JSON object")
    return jwks
