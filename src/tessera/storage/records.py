"""What the authorization server stores, as frozen records. Times are epoch seconds (float).

Signing-key state is DERIVED from the key's schedule, never stored, so no process has to
write a transition at the right moment (DESIGN.md "Defaults"; issue 3 §5)::

    next ──activates_at──▶ active ──retires_at──▶ retiring ──removes_at──▶ retired
    (published in JWKS,     (signs; in JWKS)     (no longer signs; in     (gone from JWKS;
     does not sign yet)                            JWKS until its tokens    kept for audit)
                                                   have expired)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AUTH_METHODS",
    "Client",
    "ClientAuthMethod",
    "KeyState",
    "OpaqueToken",
    "StoredKey",
    "Tenant",
    "TokenFormat",
]

ClientAuthMethod = Literal[
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "tls_client_auth",
    "self_signed_tls_client_auth",
    "none",
]
AUTH_METHODS: frozenset[str] = frozenset(ClientAuthMethod.__args__)  # type: ignore[attr-defined]
TokenFormat = Literal["jwt", "opaque"]


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    created_at: float


@dataclass(frozen=True, slots=True)
class Client:
    """A registered OAuth client of one tenant.

    ``secret_hash`` is HMAC-SHA-256 of the server-generated secret under the server's pepper
    (never the secret itself). ``audiences`` are the resources it may get tokens for; the
    first is the default when a request names none (RFC 8707).
    """

    tenant_id: str
    client_id: str
    name: str
    auth_method: ClientAuthMethod
    secret_hash: bytes | None
    grant_types: frozenset[str]
    scopes: frozenset[str]
    audiences: tuple[str, ...]
    token_format: TokenFormat = "jwt"
    access_token_ttl: int | None = None
    disabled: bool = False
    created_at: float = 0.0
    updated_at: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)


class KeyState(enum.StrEnum):
    NEXT = "next"
    ACTIVE = "active"
    RETIRING = "retiring"
    RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A tenant's signing key: public JWK in clear, private JWK sealed with AES-GCM.

    ``sealed_private`` is ``nonce ‖ ciphertext ‖ tag`` under the key-encryption key, with
    ``tenant_id`` and ``kid`` as associated data (a sealed key moved to another row or
    tenant does not open).
    """

    tenant_id: str
    kid: str
    alg: str
    public_jwk: dict[str, Any]
    sealed_private: bytes
    created_at: float
    activates_at: float
    retires_at: float | None = None
    removes_at: float | None = None

    def state(self, now: float) -> KeyState:
        # Removal wins: a pending key dropped at once (compromise) must not linger as NEXT.
        if self.removes_at is not None and now >= self.removes_at:
            return KeyState.RETIRED
        if now < self.activates_at:
            return KeyState.NEXT
        if self.retires_at is None or now < self.retires_at:
            return KeyState.ACTIVE
        if self.removes_at is None or now < self.removes_at:
            return KeyState.RETIRING
        return KeyState.RETIRED

    def published(self, now: float) -> bool:
        """In the JWKS: every state but retired."""
        return self.state(now) is not KeyState.RETIRED


@dataclass(frozen=True, slots=True)
class OpaqueToken:
    """An opaque access token, found by the SHA-256 of its value (the value is never stored)."""

    token_hash: bytes
    tenant_id: str
    client_id: str
    subject: str
    audience: tuple[str, ...]
    scope: str
    jti: str
    issued_at: float
    expires_at: float
