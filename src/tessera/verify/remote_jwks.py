"""A remote JWKS, cached: the key resolver for a verifier of a remote issuer.

- The URL is pinned (configuration or the issuer's own metadata), never read from a token.
- Freshness follows the response's ``Cache-Control: max-age``, clamped to
  ``[min_ttl, max_ttl]`` (``default_ttl`` without one). Past it, the cached keys keep
  serving while one refresh runs in the background (stale-while-revalidate).
- An unknown ``kid`` causes at most one refetch per ``cooldown`` (default 30 s); a kid still
  unknown after it is remembered (negative cache, bounded) until the cool-down ends, so a
  flood of random kids costs dictionary lookups, not fetches (SECURITY.md §2).
- A failed fetch keeps the keys already held; the failure is logged and counted.
- Bad members of a fetched JWKS (private keys, weak RSA, bad points, duplicate kids, …)
  are dropped; the good ones stay usable. Keys whose JWK is unchanged keep their identity,
  so a refresh does not empty the verified-token cache.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Final

import httpx
import structlog

from tessera.errors import TesseraError
from tessera.jose.jwk import VerificationKey
from tessera.jose.jwks import KeySet, TrustedKey
from tessera.verify.fetch import FetchPolicy, check_fetch_url, fetch_json

__all__ = ["JwksCachePolicy", "RemoteJwks"]

_log = structlog.get_logger("tessera.verify.jwks")
_MAX_AGE: Final = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d{1,10})\s*(?:,|$)", re.IGNORECASE)
_MAX_NEGATIVE: Final = 10_000


@dataclass(frozen=True, slots=True)
class JwksCachePolicy:
    default_ttl: float = 300.0
    min_ttl: float = 30.0
    max_ttl: float = 86400.0
    cooldown: float = 30.0
    fetch: FetchPolicy = field(default_factory=FetchPolicy)


def _ttl(cache_control: str | None, policy: JwksCachePolicy) -> float:
    if cache_control:
        lowered = cache_control.lower()
        if "no-store" in lowered or "no-cache" in lowered:
            return policy.min_ttl
        match = _MAX_AGE.search(cache_control)
        if match:
            return min(max(float(match.group(1)), policy.min_ttl), policy.max_ttl)
    return policy.default_ttl


class RemoteJwks:
    """Implements :class:`~tessera.jose.jws.KeyResolver` over a cached remote JWKS."""

    def __init__(
        self,
        jwks_uri: str,
        *,
        algorithms: Collection[str],
        policy: JwksCachePolicy | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy or JwksCachePolicy()
        check_fetch_url(jwks_uri, self.policy.fetch)
        self.jwks_uri = jwks_uri
        self.algorithms = frozenset(algorithms)
        self._http = http
        self._clock = clock
        self._keys = KeySet([])
        self.fetched_at: float | None = None
        self.expires_at = 0.0
        self._last_attempt = float("-inf")
        self._negative: dict[str, float] = {}
        self._refreshing: asyncio.Task[None] | None = None
        self.failures = 0
        self.rejected: tuple[str, ...] = ()

    # KeyResolver -------------------------------------------------------------------

    def resolve(self, kid: object, alg: str) -> TrustedKey:
        return self._keys.resolve(kid, alg)

    @property
    def keys(self) -> KeySet:
        return self._keys

    # freshness ---------------------------------------------------------------------

    async def ensure_fresh(self, now: float | None = None) -> None:
        """First use: wait for the keys. Stale: refresh in the background, serve cached."""
        now = self._clock() if now is None else now
        if self.fetched_at is None:
            await self.refresh()
        elif now >= self.expires_at and now - self._last_attempt >= self.policy.min_ttl:
            self._refresh_in_background()

    async def refresh_for_kid(self, kid: object, now: float | None = None) -> bool:
        """An unknown ``kid`` arrived: refetch at most once per cool-down; True if now known."""
        if type(kid) is not str:
            return False
        now = self._clock() if now is None else now
        if self._negative.get(kid, float("-inf")) > now:
            return False
        if now - self._last_attempt >= self.policy.cooldown:
            await self.refresh()
        if kid in self._keys:
            return True
        if len(self._negative) >= _MAX_NEGATIVE:
            self._negative.clear()
        self._negative[kid] = now + self.policy.cooldown
        return False

    async def refresh(self) -> None:
        """Fetch now (single flight: concurrent callers share one fetch)."""
        task = self._refreshing
        if task is None or task.done():
            task = asyncio.ensure_future(self._fetch())
            self._refreshing = task
        await asyncio.shield(task)

    def refresh_sync(self) -> None:
        """For code without an event loop: one blocking refresh."""
        asyncio.run(self._fetch(own_client=True))

    def _refresh_in_background(self) -> None:
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.ensure_future(self._fetch())

    async def _fetch(self, *, own_client: bool = False) -> None:
        now = self._clock()
        self._last_attempt = now
        try:
            if self._http is not None and not own_client:
                fetched = await fetch_json(self._http, self.jwks_uri, self.policy.fetch)
            else:
                async with httpx.AsyncClient() as client:
                    fetched = await fetch_json(client, self.jwks_uri, self.policy.fetch)
            fresh = KeySet.from_jwks(fetched.body, algorithms=self.algorithms, strict=False)
        except TesseraError as exc:  # FetchError, or a document that is not a JWKS
            self.failures += 1
            _log.warning("jwks fetch failed; keeping cached keys", error=exc.code)
            return
        self._keys = self._keep_identity(fresh)
        self.rejected = fresh.rejected
        self.fetched_at = now
        self.expires_at = now + _ttl(fetched.headers.get("cache-control"), self.policy)
        self._negative = {k: t for k, t in self._negative.items() if k not in self._keys}
        if fresh.rejected:
            _log.warning("jwks members refused", count=len(fresh.rejected))

    def _keep_identity(self, fresh: KeySet) -> KeySet:
        """Reuse the old object for a key whose JWK did not change (cache entries stay valid)."""
        kept: list[TrustedKey] = []
        for key in fresh:
            old = self._keys.get(key.kid)
            same = (
                isinstance(old, VerificationKey)
                and isinstance(key, VerificationKey)
                and old.to_jwk() == key.to_jwk()
            )
            kept.append(old if same and old is not None else key)
        return KeySet(kept, rejected=fresh.rejected)

    def __repr__(self) -> str:
        return f"RemoteJwks({self.jwks_uri!r}, kids={sorted(self._keys.kids)!r})"
