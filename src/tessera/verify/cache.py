"""The verified-token cache: pay the signature cost once per token, not once per request.

Keyed by the exact token string; it holds only tokens that passed every check. A hit is not
trusted blindly: the verifier re-checks the time claims on every hit and that the key that
verified the token is still the one trusted for its ``kid`` (a key that left the set takes
its tokens with it). Bounded LRU; thread-safe.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from tessera.jose.claims import Claims
    from tessera.jose.jwks import TrustedKey

__all__ = ["CacheEntry", "VerifiedTokenCache"]


class CacheEntry(NamedTuple):
    claims: Claims
    key: TrustedKey
    kid: object
    alg: str
    exp: float
    nbf: float | None
    iat: float | None
    # The key set in force when this token was verified: while it is still the one in
    # force, the key is trusted without resolving it again (key sets are immutable).
    keyset: object = None


class VerifiedTokenCache:
    """A bounded LRU map from token string to :class:`CacheEntry`."""

    __slots__ = ("_entries", "_lock", "hits", "maxsize", "misses")

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, token: str) -> CacheEntry | None:
        # No lock on the read path: dict reads are atomic, and a concurrent eviction only
        # turns the recency update into a no-op. Counters are approximate under threads.
        entry = self._entries.get(token)
        if entry is None:
            self.misses += 1
            return None
        try:  # noqa: SIM105 - cheaper than contextlib.suppress on the hot path
            self._entries.move_to_end(token)
        except KeyError:
            pass  # evicted meanwhile; the entry we hold is still the verified one
        self.hits += 1
        return entry

    def put(self, token: str, entry: CacheEntry) -> None:
        with self._lock:
            self._entries[token] = entry
            self._entries.move_to_end(token)
            if len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def discard(self, token: str) -> None:
        with self._lock:
            self._entries.pop(token, None)

    def evict_kids(self, kids: frozenset[str]) -> int:
        """Drop every entry verified by a key in ``kids``; returns how many were dropped."""
        with self._lock:
            doomed = [t for t, e in self._entries.items() if e.key.kid in kids]
            for token in doomed:
                del self._entries[token]
            return len(doomed)

    def evict_jti(self, jti: str) -> int:
        """Drop every entry whose ``jti`` is ``jti`` (a revocation reached us)."""
        with self._lock:
            doomed = [t for t, e in self._entries.items() if e.claims.get("jti") == jti]
            for token in doomed:
                del self._entries[token]
            return len(doomed)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
