"""Records of the user-facing flows: users, login sessions, consents, pending authorization
requests, authorization codes, and refresh-token families. Times are epoch seconds (float).

Nothing here holds a usable secret: sessions, requests, codes and refresh tokens are found by
the SHA-256 of their value, which only the browser or the client holds; passwords are argon2id
PHC strings (the parameters travel with the hash, so they can be upgraded on login).

A *family* is one grant: everything issued from one authorization code, across every
refresh-token rotation. It records the access tokens issued under it (``FamilyToken``), so
that revoking the family (reuse detected, code replayed, logout, ``/revoke``) can deny each of
their ``jti``s too. The refresh-token state machine lives in
:mod:`tessera.server.grants.refresh`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AuthorizationCode",
    "Consent",
    "FamilyToken",
    "LoginSession",
    "PendingRequest",
    "RefreshFamily",
    "RefreshToken",
    "User",
]


@dataclass(frozen=True, slots=True)
class User:
    """A person of one tenant. ``user_id`` is an opaque UUID (hex, no colon): the ``sub``.

    ``email`` is stored normalized (NFKC, case-folded, stripped) and unique per tenant.
    """

    tenant_id: str
    user_id: str
    email: str
    password_hash: str
    name: str = ""
    disabled: bool = False
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class LoginSession:
    """A browser's login at the authorization server (the SSO session).

    The cookie holds a random value; only its SHA-256 (``session_hash``) is stored.
    ``session_id`` is a separate random public id: the ID token's ``sid`` and the key by
    which logout finds the refresh families of the session.
    """

    session_hash: bytes
    session_id: str
    tenant_id: str
    user_id: str
    auth_time: float
    created_at: float
    expires_at: float
    ended_at: float | None = None


@dataclass(frozen=True, slots=True)
class Consent:
    """Scopes a user granted to a (third-party) client; remembered per client."""

    tenant_id: str
    user_id: str
    client_id: str
    scopes: frozenset[str]
    granted_at: float


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """A validated authorization request waiting for its next step.

    ``kind`` ``par``: pushed by the client (RFC 9126), found by its ``request_uri``;
    ``interaction``: an ``/authorize`` request waiting for login or consent, found by the
    interaction id in the page's URL and bound to one browser by ``binding_hash`` (SHA-256 of
    a cookie value), so a link to someone else's interaction is useless.
    """

    request_hash: bytes
    tenant_id: str
    client_id: str
    kind: Literal["par", "interaction"]
    params: dict[str, Any]
    created_at: float
    expires_at: float
    binding_hash: bytes | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    """A code bound to client, redirect URI, PKCE challenge and the user's session.

    ``family_id`` is chosen when the code is issued: its redemption creates that family,
    and a replay of the code revokes it (RFC 9700 §4.5.3.1 "revoke the tokens issued").
    """

    code_hash: bytes
    tenant_id: str
    client_id: str
    user_id: str
    session_id: str | None
    redirect_uri: str
    scope: str
    audience: str
    code_challenge: str
    nonce: str | None
    auth_time: float
    family_id: str
    issued_at: float
    expires_at: float
    consumed_at: float | None = None
    claims: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RefreshFamily:
    """One grant: its owner, its maximum scope, its absolute end, and whether it is revoked."""

    family_id: str
    tenant_id: str
    client_id: str
    user_id: str
    session_id: str | None
    scope: str
    audience: str
    auth_time: float
    created_at: float
    expires_at: float
    revoked_at: float | None = None
    revoked_reason: str | None = None


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """One refresh token of a family, found by the SHA-256 of its value.

    ``expires_at`` is its idle end (issue + idle lifetime, never past the family's end).
    Once used, ``rotated_at`` and ``successor_hash`` say when and into what.
    """

    token_hash: bytes
    family_id: str
    tenant_id: str
    client_id: str
    generation: int
    scope: str
    issued_at: float
    expires_at: float
    rotated_at: float | None = None
    successor_hash: bytes | None = None


@dataclass(frozen=True, slots=True)
class FamilyToken:
    """An access token issued under a family, kept until it expires so it can be denied."""

    family_id: str
    tenant_id: str
    jti: str
    expires_at: float
