"""Reading a token WITHOUT verifying it. Kept apart so its use stands out in review.

Nothing read here may be trusted: not the ``alg``, not the ``kid``, not the ``iss``. It
exists for routing decisions that are re-checked afterwards (e.g. choosing which pinned
issuer's verifier to run, which then checks ``iss`` against its own pin).
"""

from __future__ import annotations

from typing import Any

from tessera.jose.b64 import decode_canonical
from tessera.jose.jws import DEFAULT_MAX_TOKEN_BYTES, split_compact
from tessera.jose.strict_json import loads_object

__all__ = ["peek_unverified_claims", "peek_unverified_header"]


def peek_unverified_header(token: str, max_bytes: int = DEFAULT_MAX_TOKEN_BYTES) -> dict[str, Any]:
    """Does NOT verify. Decode a compact JWS header under the strict parsing rules."""
    header_b64, _payload, _sig, _len = split_compact(token, max_bytes)
    return loads_object(decode_canonical(header_b64), "header")


def peek_unverified_claims(token: str, max_bytes: int = DEFAULT_MAX_TOKEN_BYTES) -> dict[str, Any]:
    """Does NOT verify. Decode a compact JWS payload as a JSON object."""
    _header, payload_b64, _sig, _len = split_compact(token, max_bytes)
    return loads_object(decode_canonical(payload_b64), "payload")
