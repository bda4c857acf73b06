"""PKCE (RFC 7636) with ``S256`` only: OAuth 2.1 §4.1.1 and RFC 9700 §2.1.1 (``plain`` refused)."""

from __future__ import annotations

import hashlib
import re
from typing import Final

from tessera.errors import InvalidGrant, InvalidRequest
from tessera.jose.b64 import b64url_encode
from tessera.secret import constant_time_equals

__all__ = ["check_challenge", "check_verifier"]

# The S256 challenge is BASE64URL(SHA-256(verifier)): always 43 characters.
_CHALLENGE: Final = re.compile(r"[A-Za-z0-9_-]{43}")
# RFC 7636 §4.1: code-verifier = 43*128unreserved
_VERIFIER: Final = re.compile(r"[A-Za-z0-9._~-]{43,128}")


def check_challenge(challenge: str | None, method: str | None) -> str:
    """RFC 7636 §4.3 at ``/authorize``: a challenge is required, its method must be S256.

    An absent method means ``plain`` (§4.3), so it is refused like ``plain`` itself.
    """
    if challenge is None:
        raise InvalidRequest("code_challenge is required (PKCE)")
    if method != "S256":
        raise InvalidRequest("code_challenge_method must be S256")
    if not _CHALLENGE.fullmatch(challenge):
        raise InvalidRequest("code_challenge is malformed")
    return challenge


def check_verifier(verifier: str | None, challenge: str) -> None:
    """RFC 7636 §4.6 at ``/token``: ``BASE64URL(SHA256(verifier))`` equals the challenge."""
    if verifier is None:
        raise InvalidGrant("code_verifier is required")
    if not _VERIFIER.fullmatch(verifier):
        raise InvalidGrant("code_verifier is malformed")
    computed = b64url_encode(hashlib.sha256(verifier.encode("ascii")).digest())
    if not constant_time_equals(computed, challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge")
