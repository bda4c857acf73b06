"""Persistence: records, narrow protocols, and the SQL implementation (SQLite, PostgreSQL).

This package exports the records and protocols only, so that importing them pulls in no
database driver. The SQL store is :func:`tessera.storage.sql.open_store`; migrations are
:func:`tessera.storage.migrate.upgrade`.
"""

from tessera.storage.protocols import (
    ClientStore,
    KeyStore,
    LeaseStore,
    OpaqueTokenStore,
    RevocationStore,
    Store,
    TenantStore,
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

__all__ = [
    "AUTH_METHODS",
    "Client",
    "ClientAuthMethod",
    "ClientStore",
    "KeyState",
    "KeyStore",
    "LeaseStore",
    "OpaqueToken",
    "OpaqueTokenStore",
    "RevocationStore",
    "Store",
    "StoredKey",
    "Tenant",
    "TenantStore",
    "TokenFormat",
]
