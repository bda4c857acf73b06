"""Storage behind narrow protocols, one per aggregate, composed into one :class:`Store`.

Every backend (SQLite embedded, PostgreSQL scale-out) passes the same contract test suite
(``tests/storage/test_contract.py``). Methods are async; ``now`` is always a parameter.
Conflicts (adding what exists) raise :class:`~tessera.errors.ConflictError`.
"""

from __future__ import annotations

from typing import Protocol

from tessera.storage.records import Client, OpaqueToken, StoredKey, Tenant
from tessera.storage.user_records import (
    AuthorizationCode,
    Consent,
    FamilyToken,
    LoginSession,
    PendingRequest,
    RefreshFamily,
    RefreshToken,
    User,
)

__all__ = [
    "AuthorizationStore",
    "ClientStore",
    "ConsentStore",
    "KeyStore",
    "LeaseStore",
    "OpaqueTokenStore",
    "RefreshStore",
    "RevocationStore",
    "SessionStore",
    "Store",
    "TenantStore",
    "UserStore",
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


class UserStore(Protocol):
    async def add_user(self, user: User) -> None:
        """ConflictError when the tenant already has this user id or this email."""
        ...

    async def get_user(self, tenant_id: str, user_id: str) -> User | None: ...
    async def find_user_by_email(self, tenant_id: str, email: str) -> User | None:
        """``email`` as stored (normalized by the caller)."""
        ...

    async def list_users(self, tenant_id: str) -> list[User]:
        """Ordered by email."""
        ...

    async def replace_user(self, user: User) -> None:
        """Overwrite (password, disabled, name); NotFoundError if absent."""
        ...


class SessionStore(Protocol):
    async def add_session(self, session: LoginSession) -> None: ...
    async def find_live_session(self, session_hash: bytes, *, now: float) -> LoginSession | None:
        """The session only if not ended and ``now < expires_at``."""
        ...

    async def end_session(self, tenant_id: str, session_id: str, *, now: float) -> bool:
        """Mark ended; True when it was live (idempotent)."""
        ...

    async def purge_sessions(self, now: float) -> int:
        """Drop sessions expired or ended before ``now``; returns how many."""
        ...


class ConsentStore(Protocol):
    async def get_consent(self, tenant_id: str, user_id: str, client_id: str) -> Consent | None: ...
    async def put_consent(self, consent: Consent) -> None:
        """Insert or replace the consent of (tenant, user, client)."""
        ...


class AuthorizationStore(Protocol):
    """Pending requests (PAR, interactions) and authorization codes."""

    async def add_request(self, request: PendingRequest) -> None: ...
    async def get_request(self, request_hash: bytes, *, now: float) -> PendingRequest | None:
        """The request only while ``now < expires_at``."""
        ...

    async def take_request(self, request_hash: bytes, *, now: float) -> PendingRequest | None:
        """Atomically delete and return a live request: single use across processes."""
        ...

    async def add_code(self, code: AuthorizationCode) -> None: ...
    async def get_code(self, code_hash: bytes) -> AuthorizationCode | None:
        """Consumed or expired codes too: the caller tells replay from unknown."""
        ...

    async def redeem_code(
        self,
        code_hash: bytes,
        *,
        now: float,
        family: RefreshFamily,
        first: RefreshToken | None,
        access: FamilyToken,
    ) -> bool:
        """Compare-and-set: mark the code consumed only if it is not yet, and in the SAME
        transaction create ``family``, its ``first`` refresh token (if any) and record
        ``access``. False (nothing written) when the code was already consumed or is unknown.
        """
        ...

    async def purge_authorization(self, now: float) -> int:
        """Drop expired pending requests and codes past ``expires_at`` (+ a day for replay
        detection of consumed ones); returns how many."""
        ...


class RefreshStore(Protocol):
    async def get_refresh(self, token_hash: bytes) -> tuple[RefreshToken, RefreshFamily] | None:
        """A refresh token with its family, whatever their state."""
        ...

    async def get_family(self, family_id: str) -> RefreshFamily | None: ...
    async def rotate_refresh(
        self,
        parent_hash: bytes,
        *,
        successor: RefreshToken,
        access: FamilyToken,
        now: float,
    ) -> bool:
        """Compare-and-set, in ONE transaction: if the parent is not rotated and its family
        is not revoked, set the parent's ``rotated_at=now`` and ``successor_hash``, insert
        ``successor`` and record ``access``. False (nothing written) otherwise."""
        ...

    async def record_access(self, access: FamilyToken) -> bool:
        """Record an access token issued under a family outside a rotation (grace retry).

        False (nothing written) when the family is revoked: checked under the same lock as
        :meth:`revoke_family`, so a token is either recorded before a revocation (and then
        denied by it) or refused."""
        ...

    async def revoke_family(
        self, family_id: str, *, reason: str, now: float
    ) -> tuple[bool, list[FamilyToken]]:
        """Mark revoked (first reason wins; idempotent). Returns (newly revoked, the family's
        access tokens with ``expires_at > now``) so the caller can deny their ``jti``s."""
        ...

    async def families_of_session(self, tenant_id: str, session_id: str) -> list[str]:
        """Ids of the unrevoked families created under a login session (for logout)."""
        ...

    async def purge_refresh(self, now: float) -> int:
        """Drop families past their absolute end (with their tokens), and access-token
        records past ``expires_at``; returns how many rows."""
        ...


class Store(
    TenantStore,
    ClientStore,
    KeyStore,
    RevocationStore,
    OpaqueTokenStore,
    LeaseStore,
    UserStore,
    SessionStore,
    ConsentStore,
    AuthorizationStore,
    RefreshStore,
    Protocol,
):
    """Everything the authorization server persists."""

    async def close(self) -> None: ...
