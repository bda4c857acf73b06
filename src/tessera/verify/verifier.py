"""`Verifier`: strict local validation of access tokens for one pinned issuer.

``verify(token, now=None) -> Claims`` runs DESIGN.md validation rules 1–6 in order (JWS
rules in :mod:`tessera.jose.jws`, claim rules in :mod:`tessera.jose.claims`) and raises a
:class:`~tessera.errors.TokenError` subclass on the first failure. It never returns a bool.

Keys come from a :class:`~tessera.jose.jws.KeyResolver`: a local :class:`KeySet` now, a
remote JWKS cache later; revocation and sender constraints plug in after the claim checks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import httpx

from tessera.errors import (
    ConfigurationError,
    FetchError,
    MalformedToken,
    TesseraError,
    UnknownKey,
)
from tessera.events.bus import RevocationEvent
from tessera.jose.algorithms import ALGORITHMS
from tessera.jose.claims import Claims, ClaimsPolicy
from tessera.jose.jwks import KeySet
from tessera.jose.jws import (
    DEFAULT_MAX_TOKEN_BYTES,
    HeaderCache,
    KeyResolver,
    normalize_typ,
    verify_compact,
)
from tessera.jose.strict_json import loads_object
from tessera.jose.unverified import peek_unverified_header
from tessera.verify.cache import CacheEntry, VerifiedTokenCache
from tessera.verify.discovery import discover
from tessera.verify.remote_jwks import JwksCachePolicy, RemoteJwks
from tessera.verify.revocation import RevocationFeed

__all__ = ["Verifier"]

Clock = Callable[[], float]


def _check_algorithms(algorithms: Collection[str]) -> frozenset[str]:
    if isinstance(algorithms, str) or not algorithms:
        raise ConfigurationError("algorithms must be a non-empty list of algorithm names")
    pinned = frozenset(algorithms)
    unknown = sorted(a for a in pinned if a not in ALGORITHMS)
    if unknown:
        raise ConfigurationError(f"unsupported algorithms: {', '.join(map(repr, unknown))}")
    if len({ALGORITHMS[a].symmetric for a in pinned}) > 1:
        # RFC 8725 §3.1: never accept HMAC beside asymmetric algorithms for one issuer.
        raise ConfigurationError("algorithms cannot mix HS256 with asymmetric algorithms")
    return pinned


class Verifier:
    """Validates tokens of one issuer for one audience.

    :param issuer: the exact ``iss`` expected.
    :param audience: this resource server's identifier, required in ``aud``.
    :param algorithms: the allowlist for this issuer; ``none`` does not exist.
    :param keys: a :class:`KeySet`, a JWKS document (dict or JSON), or any resolver.
    :param leeway: clock skew tolerated, 0–120 s.
    :param max_age: refuse tokens whose ``iat`` is older (seconds), if set.
    :param typ: the required ``typ`` header (``at+jwt`` per RFC 9068); ``None`` skips the
        check, for issuers that do not type their access tokens.
    :param required_claims: claims required beyond ``iss aud exp``.
    :param cache_size: verified-token cache entries; 0 disables the cache.
    :param revocation: a :class:`RevocationFeed`: revoked ``jti`` values are refused, and a
        stale feed refuses everything unless it fails open.
    :param clock: returns the current time when ``verify`` gets no ``now``.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        algorithms: Collection[str],
        keys: KeySet | KeyResolver | Mapping[str, Any] | str,
        leeway: float = 30,
        max_age: float | None = None,
        typ: str | None = "at+jwt",
        required_claims: Collection[str] = (),
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        cache_size: int = 0,
        revocation: RevocationFeed | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.algorithms = _check_algorithms(algorithms)
        self.policy = ClaimsPolicy(
            issuer=issuer,
            audience=audience,
            leeway=leeway,
            max_age=max_age,
            required=frozenset(required_claims),
        )
        if not 256 <= max_token_bytes <= 1 << 20:
            raise ConfigurationError("max_token_bytes must be between 256 and 1 MiB")
        if cache_size < 0:
            raise ConfigurationError("cache_size must not be negative")
        self.typ = None if typ is None else normalize_typ(typ)
        self.max_token_bytes = max_token_bytes
        self._keys: KeyResolver = self._as_resolver(keys)
        self._cache: VerifiedTokenCache | None = None
        self._headers = HeaderCache()
        self._clock = clock
        self._revocation = revocation
        self.enable_cache(cache_size)

    def _as_resolver(self, keys: KeySet | KeyResolver | Mapping[str, Any] | str) -> KeyResolver:
        if isinstance(keys, Mapping | str):
            return KeySet.from_jwks(keys, algorithms=self.algorithms)
        if not hasattr(keys, "resolve"):
            raise ConfigurationError("keys must be a KeySet, a JWKS document or a KeyResolver")
        return keys

    @property
    def issuer(self) -> str:
        return self.policy.issuer

    @property
    def audience(self) -> str:
        return next(iter(self.policy.audiences))

    @property
    def cache(self) -> VerifiedTokenCache | None:
        return self._cache

    def verify(self, token: str, *, now: float | None = None) -> Claims:
        """Return the token's verified :class:`Claims`, or raise a ``TokenError``."""
        if now is None:
            now = self._clock()
        cache = self._cache
        if cache is None:
            return self._verify_uncached(token, now, None)
        if type(token) is not str:
            raise MalformedToken("token must be a string")
        entry = cache.get(token)
        if entry is None or not self._still_trusted(entry):
            return self._verify_uncached(token, now, cache)
        self.policy.check_times(entry.exp, entry.nbf, entry.iat, now)
        if self._revocation is not None:  # DESIGN rule 7, on every hit too
            self._revocation.check(entry.claims.get("jti"), now)
        return entry.claims

    def _verify_uncached(self, token: str, now: float, cache: VerifiedTokenCache | None) -> Claims:
        header, payload, key = verify_compact(
            token,
            self._keys,
            algorithms=self.algorithms,
            typ=self.typ,
            max_bytes=self.max_token_bytes,
            header_cache=self._headers,
        )
        data = loads_object(payload, "payload")
        exp, nbf, iat = self.policy.check(data, now)
        if self._revocation is not None:  # DESIGN rule 7; before caching, never after
            self._revocation.check(data.get("jti"), now)
        claims = Claims.from_parsed(data)
        if cache is not None:
            kid = header.get("kid")
            keyset = self._current_keyset()
            cache.put(token, CacheEntry(claims, key, kid, key.alg.name, exp, nbf, iat, keyset))
        return claims

    def _current_keyset(self) -> KeySet | None:
        """The immutable key set in force now (a remote JWKS replaces it on refresh).

        None for any other resolver: it may change in place, so its keys are re-resolved.
        """
        keys = self._keys
        if isinstance(keys, RemoteJwks):
            return keys.keys
        return keys if isinstance(keys, KeySet) else None

    def _still_trusted(self, entry: CacheEntry) -> bool:
        """The key that verified a cached token must still be the one trusted for its kid."""
        if entry.keyset is not None and entry.keyset is self._current_keyset():
            return True  # the same immutable set: nothing can have changed
        try:
            return self._keys.resolve(entry.kid, entry.alg) is entry.key
        except TesseraError:
            return False

    @classmethod
    async def from_issuer(
        cls,
        issuer: str,
        *,
        audience: str,
        algorithms: Collection[str],
        http: httpx.AsyncClient | None = None,
        jwks_policy: JwksCachePolicy | None = None,
        **options: Any,
    ) -> Verifier:
        """Discover ``issuer``, pin its ``jwks_uri``, fetch the keys; options as ``__init__``.

        The metadata must name exactly ``issuer``; keys are refreshed per their
        ``Cache-Control`` and on unknown kids (once per cool-down), never from a token.
        """
        policy = jwks_policy or JwksCachePolicy()
        clock: Clock = options.get("clock", time.time)
        own = http is None
        client = http if http is not None else httpx.AsyncClient()
        try:
            metadata = await discover(issuer, client, policy.fetch)
        finally:
            if own:
                await client.aclose()
        jwks = RemoteJwks(
            metadata["jwks_uri"], algorithms=algorithms, policy=policy, http=http, clock=clock
        )
        await jwks.refresh()
        if jwks.fetched_at is None:
            # Better to fail at start-up than to refuse every request later.
            raise FetchError("the issuer's JWKS could not be fetched")
        return cls(issuer=issuer, audience=audience, algorithms=algorithms, keys=jwks, **options)

    async def verify_async(self, token: str, *, now: float | None = None) -> Claims:
        """``verify`` for async code, able to refetch a remote JWKS for an unknown ``kid``."""
        if now is None:
            now = self._clock()
        keys = self._keys
        if isinstance(keys, RemoteJwks):
            await keys.ensure_fresh(now)
        try:
            return self.verify(token, now=now)
        except UnknownKey:
            if not isinstance(keys, RemoteJwks):
                raise
            # Only to decide whether a refetch may help; the retry verifies everything.
            kid = peek_unverified_header(token, self.max_token_bytes).get("kid")
            if not await keys.refresh_for_kid(kid, now):
                raise
            return self.verify(token, now=now)

    def enable_cache(self, size: int) -> None:
        """Turn the verified-token cache on (the middleware does, for data-heavy APIs)."""
        if self._cache is None and size > 0:
            cache = self._cache = VerifiedTokenCache(size)
            if self._revocation is not None:
                # A revocation also empties the cache of that jti (memory hygiene; every
                # hit is checked against the denylist anyway).
                def evict(event: RevocationEvent) -> None:
                    cache.evict_jti(event.value)

                self._revocation.on_revoked(evict)

    def update_keys(self, keys: KeySet | KeyResolver | Mapping[str, Any] | str) -> None:
        """Swap the trusted keys; cached tokens of keys that left the set are dropped."""
        resolver = self._as_resolver(keys)
        old = self._keys
        self._keys = resolver
        if self._cache is not None and isinstance(old, KeySet):
            gone = old.kids - resolver.kids if isinstance(resolver, KeySet) else old.kids
            if gone:
                self._cache.evict_kids(gone)
