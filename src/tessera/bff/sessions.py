"""BFF sessions and pending logins: the records and the narrow store protocol.

A browser session is found by the SHA-256 of its cookie value (``session_hash``); the
tokens it holds are sealed with AES-256-GCM under the BFF's key, with the session hash as
associated data, so a stolen store (or a row moved to another session) yields nothing.
A pending login (state, nonce, PKCE verifier) is found by the SHA-256 of the pre-login
cookie and is taken exactly once.

Backends (``tessera.bff.session_store``): SQLite for one machine, Redis for scale-out; one
contract test suite runs on both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["BffSession", "PendingLogin", "SessionStore", "SessionTokens"]


@dataclass(frozen=True, slots=True)
class SessionTokens:
    """What the BFF holds for a session; never leaves the server."""

    access_token: str
    refresh_token: str | None
    id_token: str | None
    access_expires_at: float


@dataclass(frozen=True, slots=True)
class BffSession:
    session_hash: bytes
    subject: str
    tokens: SessionTokens
    created_at: float
    last_seen: float
    # Absolute end (login + absolute lifetime); idle end is last_seen + idle lifetime.
    expires_at: float


@dataclass(frozen=True, slots=True)
class PendingLogin:
    login_hash: bytes
    state: str
    nonce: str
    code_verifier: str
    return_to: str
    expires_at: float


class SessionStore(Protocol):
    async def put_session(self, session: BffSession) -> None:
        """Insert or overwrite (refreshed tokens, last_seen)."""
        ...

    async def touch_session(self, session_hash: bytes, last_seen: float) -> None:
        """Update ``last_seen`` only (never the tokens: a concurrent refresh may have just
        stored new ones); a deleted session stays deleted."""
        ...

    async def get_session(self, session_hash: bytes, *, now: float) -> BffSession | None:
        """The session only while ``now < expires_at``."""
        ...

    async def delete_session(self, session_hash: bytes) -> bool: ...
    async def put_pending(self, pending: PendingLogin) -> None: ...
    async def take_pending(self, login_hash: bytes, *, now: float) -> PendingLogin | None:
        """Atomically remove and return a live pending login (single use)."""
        ...

    async def purge(self, now: float) -> int: ...
    async def close(self) -> None: ...
