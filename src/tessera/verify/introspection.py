"""``IntrospectionVerifier``: opaque tokens, checked by asking the server (RFC 7662).

The verifier authenticates as a client (``client_secret_basic``) and POSTs the token to the
pinned introspection endpoint. An active answer becomes the same frozen :class:`Claims` a
JWT gives, after the same checks where the answer carries them (``iss`` exact, our ``aud``,
``exp`` not past). Results are cached by the token's SHA-256 until the earlier of ``exp``
and ``cache_ttl`` — never past ``exp`` — and dropped at once when a revocation event for
their ``jti`` arrives (:meth:`on_revocation`). Inactive answers are not cached. A server
that cannot answer makes the request fail closed (``introspection_unavailable``).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final, NamedTuple

import httpx

from tessera.errors import (
    IntrospectionUnavailable,
    InvalidAudience,
    InvalidIssuer,
    MalformedToken,
    TokenExpired,
    TokenInactive,
)
from tessera.events.bus import RevocationEvent
from tessera.jose.claims import Claims
from tessera.secret import Secret
from tessera.verify.fetch import FetchPolicy, check_fetch_url

__all__ = ["IntrospectionVerifier"]

_CLAIM_NAMES: Final = (
    "iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "tenant_id",
)  # fmt: skip
_MAX_TOKEN: Final = 8192


class _Entry(NamedTuple):
    claims: Claims
    until: float


class IntrospectionVerifier:
    def __init__(
        self,
        *,
        introspection_endpoint: str,
        client_id: str,
        client_secret: Secret,
        audience: str,
        issuer: str | None = None,
        http: httpx.AsyncClient | None = None,
        cache_ttl: float = 60.0,
        cache_size: int = 10_000,
        policy: FetchPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy or FetchPolicy()
        check_fetch_url(introspection_endpoint, self.policy)
        self.endpoint = introspection_endpoint
        self.audience = audience
        self.issuer = issuer
        self._auth = httpx.BasicAuth(client_id, client_secret.reveal_str())
        self._http = http
        self.cache_ttl = cache_ttl
        self.cache_size = cache_size
        self._clock = clock
        self._cache: OrderedDict[bytes, _Entry] = OrderedDict()
        self._by_jti: dict[str, set[bytes]] = {}
        self._lock = threading.Lock()
        self.requests = 0

    def enable_cache(self, size: int) -> None:
        """The cache is always on here; the middleware's size request sets its bound."""
        self.cache_size = max(self.cache_size, size)

    async def verify_async(self, token: str, *, now: float | None = None) -> Claims:
        now = self._clock() if now is None else now
        if type(token) is not str or not token or len(token) > _MAX_TOKEN:
            raise MalformedToken("token must be a non-empty string within the size limit")
        key = hashlib.sha256(token.encode()).digest()
        with self._lock:
            entry = self._cache.get(key)
        if entry is not None and now < entry.until:
            return entry.claims
        claims = self._check(await self._introspect(token), now)
        self._remember(key, claims, now)
        return claims

    async def _introspect(self, token: str) -> dict[str, Any]:
        self.requests += 1
        try:
            if self._http is not None:
                response = await self._post(self._http, token)
            else:
                async with httpx.AsyncClient() as client:
                    response = await self._post(client, token)
            body = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            raise IntrospectionUnavailable("introspection failed") from None
        if not isinstance(body, dict) or not isinstance(body.get("active"), bool):
            raise IntrospectionUnavailable("introspection gave no usable answer")
        return body

    async def _post(self, client: httpx.AsyncClient, token: str) -> httpx.Response:
        return await client.post(
            self.endpoint,
            data={"token": token, "token_type_hint": "access_token"},
            auth=self._auth,
            timeout=self.policy.timeout,
            follow_redirects=False,
        )

    def _check(self, body: dict[str, Any], now: float) -> Claims:
        """RFC 7662 §2.2 ``active``, then the same claim rules a JWT meets, where present."""
        if body["active"] is not True:
            raise TokenInactive("token is not active")
        exp = body.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, int | float) or exp <= now:
            raise TokenExpired("token has expired")
        if self.issuer is not None and body.get("iss") != self.issuer:
            raise InvalidIssuer("iss is not the expected issuer")
        aud = body.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self.audience not in audiences:
            raise InvalidAudience("token is not for this audience")
        return Claims({k: body[k] for k in _CLAIM_NAMES if k in body})

    def _remember(self, key: bytes, claims: Claims, now: float) -> None:
        until = min(claims.expires_at, now + self.cache_ttl)
        jti = claims.jwt_id
        with self._lock:
            self._cache[key] = _Entry(claims, until)
            self._cache.move_to_end(key)
            if jti is not None:
                self._by_jti.setdefault(jti, set()).add(key)
            while len(self._cache) > self.cache_size:
                old_key, old = self._cache.popitem(last=False)
                self._forget_jti(old.claims.jwt_id, old_key)

    def _forget_jti(self, jti: str | None, key: bytes) -> None:
        if jti is not None and jti in self._by_jti:
            self._by_jti[jti].discard(key)
            if not self._by_jti[jti]:
                del self._by_jti[jti]

    def on_revocation(self, event: RevocationEvent) -> None:
        """Drop cached answers for a revoked ``jti`` (subscribe this to the event bus)."""
        if event.kind != "jti":
            return
        with self._lock:
            for key in self._by_jti.pop(event.value, set()):
                self._cache.pop(key, None)
