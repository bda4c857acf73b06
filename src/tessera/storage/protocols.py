"""Storage behind narrow protocols, one per aggregate, composed into one :class:`Store`.

Every backend (SQLite embedded, PostgreSQL scale-out) passes the same contract test suite
(``tests/storage/test_contract.py``). Methods are async; ``now`` is always a parameter.
Conflicts (adding what exists) raise :class:`~tessera.errors.ConflictError`.
"""

from __future__ import annotations

from typing import Protocol

from tessera.storage.records import Client, OpaqueToken, StoredKey, Tenant

__all__ = [
    "ClientStore",
    "KeyStore",
    "LeaseStore",
    "OpaqueTokenStore",
    "RevocationStore",
    "Store",
    "TenantStore",
]


class TenantStore(Protocol):
    async def add_tenant(self, tenant: Tenant) -> None: ...
    async def get_tenant(self, tenant_id: str) -> Tenant | None: ...
    async def list_tenants(self) -> list[Tenant]: ...


class ClientStore(Protocol):
    async def add_client(self, client: Client) -> None: ...
    async def get_client(self, tenant_id: str, client_id: str) -> Client | None: ...
    async def list_clients(self, tenant_id: str) -> list[Client]: ...
    async def replace_client(self, client: Client) -> None:
        """Overwrite an existing client (rotate secret, disable); raises NotFound if absent."""
        ...


class KeyStore(Protocol):
    async def add_key(self, key: StoredKey) -> None: ...
    async def list_keys(self, tenant_id: str) -> list[StoredKey]:
        """All keys of a tenant, retired ones included, ordered by ``activates_at``."""
        ...

    async def schedule_retirement(
        self, tenant_id: str, kid: str, *, retires_at: float, removes_at: float
    ) -> None: ...


class RevocationStore(Protocol):
    async def revoke_jti(self, tenant_id: str, jti: str, *, expires_at: float, now: float) -> bool:
        """Deny ``jti`` until ``expires_at``; True when newly revoked (idempotent)."""
        ...

    async def is_revoked(self, tenant_id: str, jti: str, *, now: float) -> bool: ...
    async def revoked_since(self, tenant_id: str, since: float) -> list[tuple[str, float]]:
        """``(jti, expires_at)`` revoked at or after ``since`` (catch-up for verifiers)."""
        ...

    async def purge_revocations(self, now: float) -> int:
        """Drop entries past their ``expires_at``; returns how many."""
        ...


class OpaqueTokenStore(Protocol):
    async def add_opaque(self, token: OpaqueToken) -> None: ...
    async def get_opaque(self, token_hash: bytes) -> OpaqueToken | None: ...
    async def find_live_opaque(self, token_hash: bytes, *, now: float) -> OpaqueToken | None:
        """The token only if unexpired and its ``jti`` is not revoked (introspection's read)."""
        ...

    async def delete_opaque(self, token_hash: bytes) -> bool: ...
    async def purge_opaque(self, now: float) -> int: ...


class LeaseStore(Protocol):
    async def try_lease(self, name: str, holder: str, *, now: float, ttl: float) -> bool:
        """Atomically take or renew ``name`` for ``holder``; False while another holds it."""
        ...

    async def release_lease(self, name: str, holder: str) -> None: ...


class Store(
    TenantStore, ClientStore, KeyStore, RevocationStore, OpaqueTokenStore, LeaseStore, Protocol
):
    """Everything the authorization server persists."""

    async def close(self) -> None: ...
