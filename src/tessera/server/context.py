"""Everything a request handler needs, built once per process by the app factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tessera.config import Settings
from tessera.events.bus import EventBus
from tessera.keys.manager import KeyManager
from tessera.logging import Audit
from tessera.server.client_secrets import SecretHasher
from tessera.server.directory import Directory
from tessera.server.issuance import TokenIssuer
from tessera.server.pages import Pages
from tessera.server.passwords import PasswordHasher
from tessera.server.server_keys import ServerKeys
from tessera.server.throttle import LoginThrottle
from tessera.storage.protocols import Store

__all__ = ["ServerContext"]


@dataclass(frozen=True, slots=True)
class ServerContext:
    settings: Settings
    store: Store
    keys: KeyManager
    directory: Directory
    hasher: SecretHasher
    tokens: TokenIssuer
    server_keys: ServerKeys
    pages: Pages
    passwords: PasswordHasher
    throttle: LoginThrottle
    bus: EventBus
    audit: Audit
    clock: Callable[[], float]

    def issuer(self, tenant_id: str) -> str:
        return self.settings.issuer(tenant_id)
