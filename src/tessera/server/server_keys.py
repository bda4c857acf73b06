"""Keys the server derives from its pepper for its own MACs (HKDF-SHA-256, RFC 5869).

One secret on disk (the pepper), one derived key per purpose, so a MAC made for one purpose
is never accepted for another:

- ``successor``: refresh-token successors are ``HMAC(successor, parent)`` (see
  :mod:`tessera.server.grants.refresh` for why they are derived, not random);
- ``csrf``: the login, consent and logout forms' CSRF tokens (:mod:`tessera.server.interaction`).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tessera.secret import Secret

__all__ = ["ServerKeys"]


def _derive(pepper: bytes, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"tessera/{purpose}/v1".encode()
    ).derive(pepper)


class ServerKeys:
    __slots__ = ("_csrf", "_successor")

    def __init__(self, pepper: Secret) -> None:
        raw = pepper.reveal()
        material = raw if isinstance(raw, bytes) else raw.encode()
        self._successor = _derive(material, "refresh-successor")
        self._csrf = _derive(material, "csrf")

    @staticmethod
    def _mac(key: bytes, *parts: bytes) -> bytes:
        mac = hmac.HMAC(key, hashes.SHA256())
        for part in parts:
            # Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
            mac.update(len(part).to_bytes(4, "big") + part)
        return mac.finalize()

    def successor_mac(self, parent: str) -> bytes:
        return self._mac(self._successor, parent.encode("utf-8"))

    def csrf_mac(self, *parts: str) -> bytes:
        return self._mac(self._csrf, *(p.encode("utf-8") for p in parts))

    def __repr__(self) -> str:
        return "ServerKeys(**********)"
