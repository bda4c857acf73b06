"""Per-tenant signing keys for the server: apply the rotation plan, serve signer and JWKS.

The database is the source of truth; each process keeps a short-lived snapshot (refreshed
every ``refresh_interval`` seconds and at every schedule boundary), so several processes on
one PostgreSQL agree without talking to each other. Only one process applies a rotation:
the plan is applied under a database lease named after the tenant.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tessera.errors import ConfigurationError, NotFoundError
from tessera.jose.jwk import SigningKey
from tessera.jose.jwks import KeySet
from tessera.keys.schedule import (
    CreateKey,
    RetireKey,
    RotationPolicy,
    plan_rotation,
    retirement_for,
)
from tessera.keys.sealing import KeyEncryptionKey
from tessera.storage.protocols import KeyStore, LeaseStore
from tessera.storage.records import KeyState, StoredKey

__all__ = ["KeyManager", "TenantKeys"]

AuditHook = Callable[..., None]


class KeyBackend(KeyStore, LeaseStore, Protocol):
    """What the key manager needs from the store."""


def _no_audit(_event: str, **_fields: object) -> None:
    return None


@dataclass(slots=True)
class TenantKeys:
    """A snapshot of one tenant's keys with their private halves opened on first use."""

    tenant_id: str
    keys: Sequence[StoredKey]
    loaded_at: float
    kek: KeyEncryptionKey
    _signers: dict[str, SigningKey] = field(default_factory=dict)
    _jwks: tuple[float, bytes] | None = None
    _verification: tuple[frozenset[str], KeySet] | None = None
    _current: tuple[float, float, SigningKey] | None = None  # (valid from, until, signer)
    boundary: float = field(init=False)

    def __post_init__(self) -> None:
        # Nothing changes state before this instant; the manager reloads at or after it.
        self.boundary = self.next_boundary(self.loaded_at)

    def signer(self, now: float) -> SigningKey:
        """The key that signs now: the most recently activated active key.

        Chosen once per schedule period: this runs for every issued token.
        """
        current = self._current
        if current is not None and current[0] <= now < current[1]:
            return current[2]
        signer = self._choose_signer(now)
        self._current = (now, self.next_boundary(now), signer)
        return signer

    def _choose_signer(self, now: float) -> SigningKey:
        active = [k for k in self.keys if k.state(now) is KeyState.ACTIVE]
        if not active:
            raise ConfigurationError(f"tenant {self.tenant_id!r} has no active signing key")
        chosen = max(active, key=lambda k: k.activates_at)
        signer = self._signers.get(chosen.kid)
        if signer is None:
            plain = self.kek.open(chosen.sealed_private, tenant_id=self.tenant_id, kid=chosen.kid)
            signer = SigningKey.from_jwk(json.loads(plain))
            self._signers[chosen.kid] = signer
        return signer

    def published(self, now: float) -> list[StoredKey]:
        return [k for k in self.keys if k.published(now)]

    def verification_keys(self, now: float) -> KeySet:
        """The published keys as a :class:`KeySet`, rebuilt only when that set changes."""
        published = self.published(now)
        kids = frozenset(k.kid for k in published)
        if self._verification is None or self._verification[0] != kids:
            keys = KeySet.from_jwks({"keys": [k.public_jwk for k in published]})
            self._verification = (kids, keys)
        return self._verification[1]

    def jwks_json(self, now: float) -> bytes:
        """The JWKS document, serialized once per schedule period."""
        boundary = self.boundary
        if self._jwks is not None and self._jwks[0] == boundary and now < boundary:
            return self._jwks[1]
        body = json.dumps(
            {"keys": [k.public_jwk for k in self.published(now)]}, separators=(",", ":")
        ).encode()
        self._jwks = (boundary, body)
        return body

    def next_boundary(self, now: float) -> float:
        """The next instant at which some key changes state (inf when none is scheduled)."""
        times = [
            t
            for k in self.keys
            for t in (k.activates_at, k.retires_at, k.removes_at)
            if t is not None and t > now
        ]
        return min(times, default=float("inf"))


class KeyManager:
    """Creates, rotates and retires signing keys; hands out per-tenant snapshots."""

    def __init__(
        self,
        store: KeyBackend,
        kek: KeyEncryptionKey,
        policy: RotationPolicy,
        *,
        alg: str = "ES256",
        refresh_interval: float = 30.0,
        audit: AuditHook = _no_audit,
    ) -> None:
        self._store = store
        self._kek = kek
        self.policy = policy
        self.alg = alg
        self.refresh_interval = refresh_interval
        self._audit = audit
        self.holder = f"tessera-{uuid.uuid4()}"
        self._snapshots: dict[str, TenantKeys] = {}
        self._loading: dict[str, asyncio.Future[TenantKeys]] = {}

    async def keys_for(self, tenant_id: str, now: float) -> TenantKeys:
        """A snapshot no older than ``refresh_interval`` and not past a schedule boundary.

        Single-flight: requests that find the snapshot stale at the same moment share one
        load (a stampede of identical queries would stall them all).
        """
        snap = self._snapshots.get(tenant_id)
        if (
            snap is None
            or now - snap.loaded_at >= self.refresh_interval
            or now >= snap.boundary
            or now < snap.loaded_at
        ):
            pending = self._loading.get(tenant_id)
            if pending is None:
                pending = asyncio.ensure_future(self._load(tenant_id, now))
                self._loading[tenant_id] = pending
                pending.add_done_callback(lambda _f: self._loading.pop(tenant_id, None))
            snap = await asyncio.shield(pending)
        return snap

    async def _load(self, tenant_id: str, now: float) -> TenantKeys:
        keys = await self._store.list_keys(tenant_id)
        old = self._snapshots.get(tenant_id)
        snap = TenantKeys(tenant_id, tuple(keys), now, self._kek)
        if old is not None:  # keep already-opened private keys
            kids = {k.kid for k in keys}
            snap._signers.update({k: v for k, v in old._signers.items() if k in kids})  # noqa: SLF001
        self._snapshots[tenant_id] = snap
        return snap

    async def ensure(self, tenant_id: str, now: float) -> list[CreateKey | RetireKey]:
        """Apply the rotation plan for ``tenant_id`` if this process holds its lease."""
        lease = f"keys:{tenant_id}"
        if not await self._store.try_lease(lease, self.holder, now=now, ttl=60.0):
            return []
        try:
            keys = await self._store.list_keys(tenant_id)
            actions = plan_rotation(keys, now, self.policy)
            await self._apply(tenant_id, actions, now, reason="scheduled")
        finally:
            await self._store.release_lease(lease, self.holder)
        if actions:
            await self._load(tenant_id, now)
        return actions

    async def rotate(self, tenant_id: str, now: float, *, immediately: bool = False) -> str:
        """Create a successor now; it signs after the publish lead (or at once, if told).

        ``immediately`` is for a compromised key: the successor signs at once and the old
        keys leave the JWKS at once too, so their tokens stop verifying.
        """
        keys = await self._store.list_keys(tenant_id)
        current = [k for k in keys if k.state(now) in (KeyState.ACTIVE, KeyState.NEXT)]
        activates_at = now if immediately else now + self.policy.publish_lead
        actions: list[CreateKey | RetireKey] = [CreateKey(activates_at)]
        for key in current:
            if immediately:
                actions.append(RetireKey(key.kid, now, now))
            elif key.retires_at is None or key.retires_at > activates_at:
                actions.append(retirement_for(key.kid, activates_at, self.policy))
        kids = await self._apply(tenant_id, actions, now, reason="manual")
        await self._load(tenant_id, now)
        return kids[0]

    async def retire(
        self, tenant_id: str, kid: str, now: float, *, remove_now: bool = False
    ) -> None:
        """Stop ``kid`` signing now; keep it published until its tokens expired (or not)."""
        keys = {k.kid: k for k in await self._store.list_keys(tenant_id)}
        if kid not in keys:
            raise NotFoundError("no such key for this tenant")
        others = [k for k in keys.values() if k.kid != kid and k.state(now) is KeyState.ACTIVE]
        if not others:
            # Retiring the only signer would stop issuance; create a successor that signs now.
            await self._apply(tenant_id, [CreateKey(now)], now, reason="retire")
        action = RetireKey(kid, now, now) if remove_now else retirement_for(kid, now, self.policy)
        await self._apply(tenant_id, [action], now, reason="retire")
        await self._load(tenant_id, now)

    async def _apply(
        self, tenant_id: str, actions: Sequence[CreateKey | RetireKey], now: float, *, reason: str
    ) -> list[str]:
        created: list[str] = []
        for action in actions:
            if isinstance(action, CreateKey):
                key = SigningKey.generate(self.alg)
                sealed = self._kek.seal(
                    json.dumps(key.export_private_jwk()).encode(), tenant_id=tenant_id, kid=key.kid
                )
                await self._store.add_key(
                    StoredKey(
                        tenant_id=tenant_id,
                        kid=key.kid,
                        alg=self.alg,
                        public_jwk=key.public.to_jwk(),
                        sealed_private=sealed,
                        created_at=now,
                        activates_at=action.activates_at,
                    )
                )
                created.append(key.kid)
                self._audit(
                    "key.rotated",
                    tenant_id=tenant_id,
                    kid=key.kid,
                    alg=self.alg,
                    activates_at=action.activates_at,
                    reason=reason,
                )
            else:
                await self._store.schedule_retirement(
                    tenant_id,
                    action.kid,
                    retires_at=action.retires_at,
                    removes_at=action.removes_at,
                )
                self._audit(
                    "key.retiring",
                    tenant_id=tenant_id,
                    kid=action.kid,
                    retires_at=action.retires_at,
                    removes_at=action.removes_at,
                    reason=reason,
                )
        return created

    def describe(self, snapshot: TenantKeys, now: float) -> list[dict[str, Any]]:
        """Rows for ``tessera keys list``: metadata only, never key material."""
        return [
            {
                "kid": k.kid,
                "alg": k.alg,
                "state": k.state(now).value,
                "activates_at": k.activates_at,
                "retires_at": k.retires_at,
                "removes_at": k.removes_at,
            }
            for k in snapshot.keys
        ]
