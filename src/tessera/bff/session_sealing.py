"""Sealing what a BFF store keeps secret: AES-256-GCM bound to its record (see
:mod:`tessera.bff.session_store`)."""

from __future__ import annotations

import os
from typing import Any

import orjson
import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tessera.bff.sessions import BffSession, PendingLogin, SessionTokens
from tessera.errors import ConfigurationError, SealedDataInvalid

__all__ = ["SealedDataInvalid", "TokenSealer", "open_pending", "open_session", "unreadable"]

_log = structlog.get_logger("tessera.bff")

_NONCE_BYTES = 12  # 96-bit GCM nonce (NIST SP 800-38D §8.2.2), random per seal
_SESSION_AAD = b"tessera.bff.session\x00"
_PENDING_AAD = b"tessera.bff.pending\x00"


def _invalid() -> SealedDataInvalid:
    return SealedDataInvalid("sealed data does not open under this key and record")


class TokenSealer:
    """AES-256-GCM over JSON; output ``nonce ‖ ciphertext ‖ tag``.

    ``open`` raises :class:`SealedDataInvalid` (a :class:`StorageError`) on any tampering,
    wrong key or wrong record; it never returns partial or unauthenticated data.
    """

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) != 32:
            raise ConfigurationError("the BFF session key must be exactly 32 bytes (AES-256)")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "TokenSealer(key=<redacted>)"

    def _seal(self, payload: dict[str, Any], aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, orjson.dumps(payload), aad)

    def _open(self, blob: bytes, aad: bytes) -> dict[str, Any]:
        if not isinstance(blob, bytes) or len(blob) < _NONCE_BYTES + 16:
            raise _invalid()
        try:
            plain = self._aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad)
            payload = orjson.loads(plain)
        except (InvalidTag, orjson.JSONDecodeError):
            raise _invalid() from None
        if not isinstance(payload, dict):
            raise _invalid()
        return payload

    def seal(self, tokens: SessionTokens, session_hash: bytes) -> bytes:
        return self._seal(
            {
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "id_token": tokens.id_token,
                "access_expires_at": tokens.access_expires_at,
            },
            _SESSION_AAD + session_hash,
        )

    def open(self, blob: bytes, session_hash: bytes) -> SessionTokens:
        """The tokens sealed for ``session_hash``; raises :class:`SealedDataInvalid`."""
        p = self._open(blob, _SESSION_AAD + session_hash)
        access, refresh, id_token = p.get("access_token"), p.get("refresh_token"), p.get("id_token")
        expires = p.get("access_expires_at")
        if (
            not isinstance(access, str)
            or not isinstance(refresh, str | None)
            or not isinstance(id_token, str | None)
            or isinstance(expires, bool)
            or not isinstance(expires, int | float)
        ):
            raise _invalid()
        return SessionTokens(access, refresh, id_token, float(expires))

    def seal_login_secrets(self, nonce: str, code_verifier: str, login_hash: bytes) -> bytes:
        """Seal a pending login's OIDC ``nonce`` and PKCE ``code_verifier``."""
        return self._seal(
            {"nonce": nonce, "code_verifier": code_verifier}, _PENDING_AAD + login_hash
        )

    def open_login_secrets(self, blob: bytes, login_hash: bytes) -> tuple[str, str]:
        """``(nonce, code_verifier)``; raises :class:`SealedDataInvalid`."""
        p = self._open(blob, _PENDING_AAD + login_hash)
        nonce, verifier = p.get("nonce"), p.get("code_verifier")
        if not isinstance(nonce, str) or not isinstance(verifier, str):
            raise _invalid()
        return nonce, verifier


def unreadable(kind: str) -> None:
    # The hash is not logged: it names a live browser session.
    _log.warning("bff session store: sealed record did not open; treated as absent", record=kind)


# ------------------------------------------------------------------------------ SQLite


def open_session(
    sealer: TokenSealer,
    session_hash: bytes,
    subject: str,
    sealed: bytes,
    times: tuple[float, float, float],
) -> BffSession | None:
    """A stored session back from its row, or None (logged) when its blob does not open.

    ``times`` is (created_at, last_seen, expires_at)."""
    try:
        tokens = sealer.open(sealed, session_hash)
    except SealedDataInvalid:
        unreadable("session")
        return None
    return BffSession(session_hash, subject, tokens, *times)


def open_pending(
    sealer: TokenSealer,
    login_hash: bytes,
    record: tuple[str, bytes, str, float],
    now: float,
) -> PendingLogin | None:
    """A taken pending login, or None when expired or its blob does not open (logged).

    ``record`` is (state, sealed nonce and verifier, return_to, expires_at)."""
    state, sealed, return_to, expires_at = record
    if not now < expires_at:
        return None
    try:
        nonce, verifier = sealer.open_login_secrets(sealed, login_hash)
    except SealedDataInvalid:
        unreadable("pending_login")
        return None
    return PendingLogin(login_hash, state, nonce, verifier, return_to, expires_at)
