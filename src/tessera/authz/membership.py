"""Tenant membership, read from the application's own records through a short-lived cache.

A token's ``tenant_id`` is a hint. The source of truth is the application's database:
:class:`MembershipSource` is the one narrow question Tessera asks of it, and
:class:`MembershipCache` keeps the answers for a few seconds so a request costs no query on
the hot path. :func:`authorize_principal` is the per-request check: a token claiming tenant B
for a user who is a member of A only is refused (``NotAMember``), whatever the token says.

Staleness is bounded twice: by ``ttl`` (default 30 s) and by events. The application calls
:meth:`MembershipCache.invalidate` when it changes a membership, and subscribes
:meth:`MembershipCache.on_revocation` to the event bus.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final, Protocol

from tessera.authz.principal import Principal
from tessera.errors import ConfigurationError, NotAMember
from tessera.events.bus import RevocationEvent

__all__ = ["MembershipCache", "MembershipSource", "authorize_principal"]

_Key = tuple[str, str]  # (tenant_id, subject)
_Roles = frozenset[str] | None


class MembershipSource(Protocol):
    """The application's membership records (its own database, not the token)."""

    async def roles(self, tenant_id: str, subject: str) -> frozenset[str] | None:
        """The subject's roles in the tenant (possibly empty), or ``None`` if not a member."""
        ...


class MembershipCache:
    """Answers of a :class:`MembershipSource`, kept ``ttl`` seconds, at most ``max_entries``.

    - Negative answers (``None``: not a member) are cached too, so a token replayed against
      a tenant it does not belong to costs no query per request.
    - Loads are single-flight: concurrent lookups of one key share one source call.
    - A source error is not cached; every waiter of that load sees it.
    - An invalidation that lands while a load is in flight keeps that load's answer out of
      the cache (it may predate the change); later lookups query the source again.
    - Least recently used entries go first once ``max_entries`` is reached.

    ``clock`` is monotonic seconds; tests pass their own (time is a parameter).
    """

    def __init__(
        self,
        source: MembershipSource,
        *,
        ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 100_000,
    ) -> None:
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl):
            raise ConfigurationError("ttl must be a finite number of seconds")
        if ttl <= 0:
            raise ConfigurationError("ttl must be positive (no cache: ask the source directly)")
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ConfigurationError("max_entries must be a positive integer")
        self._source: Final = source
        self._ttl: Final = float(ttl)
        self._clock: Final = clock
        self._max_entries: Final = max_entries
        self._entries: OrderedDict[_Key, tuple[float, _Roles]] = OrderedDict()
        self._by_tenant: dict[str, set[str]] = {}
        self._loading: dict[_Key, asyncio.Task[_Roles]] = {}
        # Bumped by every invalidation; a load started under an older epoch is not stored.
        self._epoch = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def roles(self, tenant_id: str, subject: str) -> frozenset[str] | None:
        """The subject's roles in the tenant, or ``None`` if not a member (maybe cached)."""
        key = (tenant_id, subject)
        entry = self._entries.get(key)
        if entry is not None:
            expires_at, roles = entry
            if self._clock() < expires_at:
                self._entries.move_to_end(key)
                return roles
            self._drop(key)
        task = self._loading.get(key)
        if task is None:
            task = asyncio.ensure_future(self._load(key, self._epoch))
            self._loading[key] = task
            task.add_done_callback(functools.partial(self._loaded, key))
        # Shielded: one caller's cancellation (a client gone) must not fail the others.
        return await asyncio.shield(task)

    async def _load(self, key: _Key, epoch: int) -> _Roles:
        roles = await self._source.roles(*key)
        if roles is not None:
            roles = frozenset(roles)
        if epoch == self._epoch:
            self._store(key, roles)
        return roles

    def _loaded(self, key: _Key, task: asyncio.Task[_Roles]) -> None:
        if self._loading.get(key) is task:
            del self._loading[key]
        if not task.cancelled():
            task.exception()  # retrieved here: its waiters may all have gone

    def _store(self, key: _Key, roles: _Roles) -> None:
        if key in self._entries:
            self._entries.move_to_end(key)
        self._entries[key] = (self._clock() + self._ttl, roles)
        self._by_tenant.setdefault(key[0], set()).add(key[1])
        while len(self._entries) > self._max_entries:
            oldest = next(iter(self._entries))
            self._drop(oldest)

    def _drop(self, key: _Key) -> None:
        if self._entries.pop(key, None) is None:
            return
        subjects = self._by_tenant.get(key[0])
        if subjects is not None:
            subjects.discard(key[1])
            if not subjects:
                del self._by_tenant[key[0]]

    def invalidate(self, tenant_id: str, subject: str) -> None:
        """Forget one membership: call it whenever the application changes it."""
        self._epoch += 1
        self._loading.pop((tenant_id, subject), None)
        self._drop((tenant_id, subject))

    def invalidate_tenant(self, tenant_id: str) -> None:
        """Forget every membership of one tenant."""
        self._epoch += 1
        for key in [k for k in self._loading if k[0] == tenant_id]:
            del self._loading[key]
        for subject in list(self._by_tenant.get(tenant_id, ())):
            self._drop((tenant_id, subject))

    def clear(self) -> None:
        """Forget everything."""
        self._epoch += 1
        self._loading.clear()
        self._entries.clear()
        self._by_tenant.clear()

    def on_revocation(self, event: RevocationEvent) -> None:
        """An :class:`~tessera.events.bus.EventBus` subscriber: drop the event's tenant.

        ``bus.subscribe(cache.on_revocation)``. Revocations often travel with a membership
        change (an administrator removes a user and revokes their tokens), so the cache must
        not keep vouching for that user. But the event names a ``jti`` or a refresh family,
        not a subject, and this process keeps no ``jti`` → subject index (the token may never
        have been presented here). The tenant is the finest key the event gives that surely
        covers the affected subject: dropping it costs one reload per active member of that
        tenant, while dropping everything would let one tenant's revocations load every
        tenant's lookups. Memberships in other tenants are untouched: a token of tenant A
        says nothing about membership in B, whose own changes arrive as B's events.
        """
        self.invalidate_tenant(event.tenant_id)


async def authorize_principal(principal: Principal, cache: MembershipCache) -> Principal:
    """Check the claimed tenant against the application's records; raise or verify.

    Returns the principal with ``verified_tenant`` set and ``roles`` filled. Raises
    :class:`~tessera.errors.NotAMember` when the source says the subject is not a member of
    the claimed tenant, or when the token names no subject or no tenant (nothing to check
    means nothing granted).
    """
    subject, tenant_id = principal.subject, principal.tenant_id
    if not subject or not tenant_id:
        raise NotAMember("token names no subject and tenant to check")
    roles = await cache.roles(tenant_id, subject)
    if roles is None:
        raise NotAMember("subject is not a member of the claimed tenant", tenant_id=tenant_id)
    return principal.with_membership(roles)
