"""Persistence: records, narrow protocols, and the SQL implementation (SQLite, PostgreSQL).

This package exports the records and protocols only, so that importing them pulls in no
database driver. The SQL store is :func:`tessera.storage.sql.open_store`; migrations are
:func:`tessera.storage.migrate.upgrade`.
"""

from tessera.storage.protocols import (
    AuthorizationStore,
    ClientStore,
    ConsentStore,
    KeyStore,
    LeaseStore,
    OpaqueTokenStore,
    RefreshStore,
    RevocationStore,
    SessionStore,
    Store,
    TenantStore,
    UserStore,
)
from tessera.storage.records import (
    AUTH_METHODS,
    Client,
    ClientAuthMethod,
    KeyState,
    OpaqueToken,
    StoredKey,
    Tenant,
    TokenFormat,
)
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
    "AUTH_METHODS",
    "AuthorizationCode",
    "AuthorizationStore",
    "Client",
    "ClientAuthMethod",
    "ClientStore",
    "Consent",
    "ConsentStore",
    "FamilyToken",
    "KeyState",
    "KeyStore",
    "LeaseStore",
    "LoginSession",
    "OpaqueToken",
    "OpaqueTokenStore",
    "PendingRequest",
    "RefreshFamily",
    "RefreshStore",
    "RefreshToken",
    "RevocationStore",
    "SessionStore",
    "Store",
    "StoredKey",
    "Tenant",
    "TenantStore",
    "TokenFormat",
    "User",
    "UserStore",
]
