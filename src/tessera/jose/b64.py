"""Strict base64url (RFC 7515 §2, RFC 4648 §5): no padding, canonical trailing bits.

Python's decoders silently drop characters outside the alphabet and accept non-canonical
trailing bits, so one token could have many spellings that verify. Here the alphabet and
the trailing bits are checked BEFORE decoding, so each byte string has exactly one encoding.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

from tessera.errors import MalformedToken

__all__ = ["b64url_decode", "b64url_encode", "decode_canonical", "has_canonical_tail", "is_b64url"]

_ALPHABET: Final = re.compile(r"[A-Za-z0-9_-]*")
_ALPHABET_MATCH: Final = _ALPHABET.fullmatch

# A final character of a 2-char group encodes 4 unused low bits; of a 3-char group, 2 bits.
# Canonical encodings have those bits zero: only these final characters are allowed.
_CANONICAL_LAST_OF_2: Final = frozenset("AQgw")
_CANONICAL_LAST_OF_3: Final = frozenset("AEIMQUYcgkosw048")
_PADDING: Final = ("", "", "==", "=")
_a2b: Final = binascii.a2b_base64


def b64url_encode(data: bytes) -> str:
    """Encode without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def is_b64url(segment: str) -> bool:
    """True when ``segment`` is canonical unpadded base64url (the empty string included)."""
    return _ALPHABET_MATCH(segment) is not None and has_canonical_tail(segment)


def has_canonical_tail(segment: str) -> bool:
    """For a segment already within the alphabet: its length and trailing bits are canonical."""
    rem = len(segment) & 3
    if rem == 0:
        return True
    if rem == 2:
        return segment[-1] in _CANONICAL_LAST_OF_2
    if rem == 3:
        return segment[-1] in _CANONICAL_LAST_OF_3
    return False  # a lone trailing character encodes no whole byte


def b64url_decode(segment: str, what: str = "segment") -> bytes:
    """Decode canonical unpadded base64url or raise :class:`MalformedToken`."""
    if not is_b64url(segment):
        raise MalformedToken(f"{what} is not canonical base64url")
    return decode_canonical(segment)


def decode_canonical(segment: str) -> bytes:
    """Decode a segment whose tail is canonical and that holds no ``+``, ``/`` or ``=``.

    After mapping ``-_`` to ``+/``, ``binascii``'s strict mode refuses every character
    outside the alphabet (whitespace, non-ASCII, NUL …), so no regex pass is needed first.
    It is about twice as fast as ``base64.urlsafe_b64decode``, which matters on the hot path.
    """
    try:
        return _a2b(
            (segment + _PADDING[len(segment) & 3]).replace("-", "+").replace("_", "/"),
            strict_mode=True,
        )
    except ValueError as exc:  # binascii.Error is a ValueError; so is non-ASCII input
        raise MalformedToken("segment is not base64url") from exc
