"""Private keys at rest: AES-256-GCM under the key-encryption key (KEK).

The associated data binds a sealed key to its tenant and ``kid``: a sealed blob copied to
another row or tenant fails to open (a database attacker cannot swap keys around). The KEK
lives outside the database: a 0600 file in the data directory, or ``TESSERA_KEK``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tessera.errors import ConfigurationError, InvalidKey, TesseraError
from tessera.jose.b64 import b64url_decode, b64url_encode
from tessera.secret import Secret

__all__ = ["KeyEncryptionKey", "load_or_create_secret_file"]

_NONCE_BYTES: Final = 12
_VERSION: Final = b"tessera-key:v1"


class KeyEncryptionKey:
    """A 256-bit AES-GCM key that seals and opens private signing keys."""

    __slots__ = ("_aead",)

    def __init__(self, key: Secret) -> None:
        raw = key.reveal()
        if not isinstance(raw, bytes) or len(raw) != 32:
            raise ConfigurationError("the key-encryption key must be 32 bytes")
        self._aead = AESGCM(raw)

    @classmethod
    def from_text(cls, text: str) -> KeyEncryptionKey:
        """From unpadded base64url (the file and ``TESSERA_KEK`` format)."""
        try:
            raw = b64url_decode(text.strip(), what="key-encryption key")
        except TesseraError:
            raise ConfigurationError("the key-encryption key is not base64url") from None
        return cls(Secret(raw))

    @staticmethod
    def _aad(tenant_id: str, kid: str) -> bytes:
        return b"\x00".join((_VERSION, tenant_id.encode(), kid.encode()))

    def seal(self, plaintext: bytes, *, tenant_id: str, kid: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, self._aad(tenant_id, kid))

    def open(self, sealed: bytes, *, tenant_id: str, kid: str) -> bytes:
        nonce, body = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, body, self._aad(tenant_id, kid))
        except (InvalidTag, ValueError):  # ValueError: too short to hold a nonce and a tag
            raise InvalidKey("sealed key does not open (wrong KEK, tenant or kid)") from None

    def __repr__(self) -> str:
        return "KeyEncryptionKey(**********)"


def load_or_create_secret_file(path: Path, *, nbytes: int = 32) -> Secret:
    """Read a base64url secret from ``path``, creating it (mode 0600) on first start.

    Creation is exclusive (``O_EXCL``): when two processes start at once, the second reads
    the file the first wrote instead of replacing it.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        value = secrets.token_bytes(nbytes)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process won the race; read its secret below
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(b64url_encode(value) + "\n")
            return Secret(value)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigurationError(f"{path} must not be readable by group or others (chmod 600)")
    text = path.read_text().strip()
    try:
        return Secret(b64url_decode(text, what=str(path.name)))
    except TesseraError:
        raise ConfigurationError(f"{path} does not hold a base64url secret") from None
