"""Compact JWS (RFC 7515 §7.1), strict: DESIGN.md validation rules 1–5.

:func:`verify_compact` checks, in this order, each with its own typed error:

1. size cap, then exactly three non-empty segments of canonical base64url (checked before
   any decoding); a five-segment JWE is refused here; the header is a strict JSON object;
2. ``alg`` is one of the caller's pinned algorithms (``none`` does not exist); ``typ`` is
   the expected media type; ``crit``, ``b64`` and ``zip`` are refused (we implement no
   extension, RFC 7515 §4.1.11, RFC 7797 §3, RFC 7516 §4.1.3 is JWE-only);
3. ``jku``, ``x5u``, ``jwk``, ``x5c`` are refused, never followed (RFC 8725 §3.10);
4. ``kid`` selects among trusted keys only, and the key's own ``alg`` must equal the header's;
5. the signature is verified over the literal signing-input bytes.

Only then is the payload decoded; claims are the JWT layer's concern.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Protocol

from tessera.errors import (
    AlgorithmNotAllowed,
    ForbiddenHeader,
    InvalidType,
    MalformedToken,
    SigningError,
    TokenTooLarge,
    UnknownKey,
    UnsupportedCritical,
)
from tessera.jose.b64 import b64url_encode, decode_canonical, has_canonical_tail
from tessera.jose.strict_json import dumps_compact, loads_object

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from tessera.jose.jwk import SigningKey, SymmetricKey
    from tessera.jose.jwks import TrustedKey

__all__ = [
    "DEFAULT_MAX_TOKEN_BYTES",
    "FORBIDDEN_HEADERS",
    "HeaderCache",
    "KeyResolver",
    "normalize_typ",
    "sign_compact",
    "verify_compact",
]

DEFAULT_MAX_TOKEN_BYTES: Final = 8192
FORBIDDEN_HEADERS: Final = frozenset({"jku", "x5u", "jwk", "x5c"})
# Header names that make a JWS mean something other than "verify these bytes with this key".
_EXTENSION_HEADERS: Final = frozenset({"crit", "b64", "zip"})
_UNSAFE_HEADERS: Final = FORBIDDEN_HEADERS | _EXTENSION_HEADERS
_REGISTERED_HEADERS: Final = frozenset(
    {"alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit"}
)


class KeyResolver(Protocol):
    """Where verification keys come from: a local :class:`KeySet` or a remote JWKS cache."""

    def resolve(self, kid: object, alg: str) -> TrustedKey: ...


def normalize_typ(typ: str) -> str:
    """RFC 7515 §4.1.9: compare media types case-insensitively, ``application/`` optional."""
    lowered = typ.lower()
    return lowered.removeprefix("application/")


def split_compact(token: object, max_bytes: int) -> tuple[str, str, str, int]:
    """Rule 1 up to decoding: returns the three segments and the signing-input length.

    ``+``, ``/`` and ``=`` are refused here; every other character outside base64url is
    refused by the strict decoder (:func:`~tessera.jose.b64.decode_canonical`) before any
    JSON is parsed or any signature checked.
    """
    if type(token) is not str:
        raise MalformedToken("token must be a string")
    if len(token) > max_bytes:
        raise TokenTooLarge("token exceeds the size limit")
    if not token.isascii() or "+" in token or "/" in token or "=" in token:
        raise MalformedToken("token contains characters outside base64url")
    segments = token.split(".")
    if len(segments) != 3:
        if len(segments) == 5:
            raise MalformedToken("a JWE was given where a JWS is expected")
        raise MalformedToken("a compact JWS has exactly three segments")
    header_b64, payload_b64, signature_b64 = segments
    if not (header_b64 and payload_b64 and signature_b64):
        raise MalformedToken("a compact JWS has no empty segment")
    if not (
        has_canonical_tail(header_b64)
        and has_canonical_tail(payload_b64)
        and has_canonical_tail(signature_b64)
    ):
        raise MalformedToken("segment is not canonical base64url")
    return header_b64, payload_b64, signature_b64, len(header_b64) + 1 + len(payload_b64)


def check_header(
    header: Mapping[str, Any], algorithms: Collection[str], expected_typ: str | None
) -> str:
    """Rules 2–3 on a decoded header; returns the (allowed) ``alg``."""
    alg = header.get("alg")
    if type(alg) is not str or alg not in algorithms:
        raise AlgorithmNotAllowed("alg is missing or not allowed for this issuer")
    if not _UNSAFE_HEADERS.isdisjoint(header):
        _raise_unsafe_header(header)
    if "kid" in header and type(header["kid"]) is not str:
        # `"kid": null` must not mean "no kid" (RFC 7515 §4.1.4: kid is a string).
        raise UnknownKey("kid must be a string")
    if expected_typ is not None:
        typ = header.get("typ")
        if type(typ) is not str or normalize_typ(typ) != expected_typ:
            raise InvalidType("typ is not the expected token type")
    return alg


def _raise_unsafe_header(header: Mapping[str, Any]) -> None:
    found = FORBIDDEN_HEADERS.intersection(header)
    if found:
        raise ForbiddenHeader(
            "header parameters naming keys or URLs are never honoured",
            params=sorted(found),
        )
    crit = header.get("crit", None)
    if "crit" in header:
        if not isinstance(crit, tuple | list) or not crit:
            raise UnsupportedCritical("crit must be a non-empty array")
        if len(set(map(repr, crit))) != len(crit):
            raise UnsupportedCritical("crit repeats a name")
        if any(isinstance(name, str) and name in _REGISTERED_HEADERS for name in crit):
            raise UnsupportedCritical("crit names a registered header parameter")
        raise UnsupportedCritical("crit names an extension that is not supported")
    if "b64" in header:
        raise UnsupportedCritical("unencoded payloads (b64) are not supported")
    raise UnsupportedCritical("zip is not allowed in a JWS")


class HeaderCache:
    """Checked headers by their encoded segment, for ONE (algorithms, typ) configuration.

    An issuer's tokens share a handful of headers (one per ``kid``), so parsing and checking
    them again for every token is wasted work on the hot path. An entry is added only after
    a signature verified under it, so only a trusted signer can add entries; the key is still
    resolved on every use, so key rotation is honoured. Bounded: cleared when full.
    """

    __slots__ = ("_entries", "maxsize")

    def __init__(self, maxsize: int = 64) -> None:
        self.maxsize = maxsize
        self._entries: dict[str, tuple[Mapping[str, Any], str]] = {}

    def get(self, segment: str) -> tuple[Mapping[str, Any], str] | None:
        return self._entries.get(segment)

    def add(self, segment: str, header: Mapping[str, Any], alg: str) -> None:
        if len(self._entries) >= self.maxsize:
            self._entries.clear()
        self._entries[segment] = (header, alg)


def verify_compact(
    token: str,
    keys: KeyResolver,
    *,
    algorithms: Collection[str],
    typ: str | None = None,
    max_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
    header_cache: HeaderCache | None = None,
) -> tuple[Mapping[str, Any], bytes, TrustedKey]:
    """Verify a compact JWS and return ``(header, payload bytes, key used)``.

    ``algorithms`` is a required allowlist; ``typ`` (if given) is compared after
    :func:`normalize_typ`, so pass it already normalized (e.g. ``"at+jwt"``). The header
    is read-only. A ``header_cache`` must only ever be used with the same ``algorithms``
    and ``typ``.
    """
    header_b64, payload_b64, signature_b64, signed_len = split_compact(token, max_bytes)
    cached = header_cache.get(header_b64) if header_cache is not None else None
    if cached is None:
        header: Mapping[str, Any] = MappingProxyType(
            loads_object(decode_canonical(header_b64), "header")
        )
        alg = check_header(header, algorithms, typ)
    else:
        header, alg = cached
    key = keys.resolve(header.get("kid"), alg)
    key.verify(token[:signed_len].encode("ascii"), decode_canonical(signature_b64))
    if cached is None and header_cache is not None:
        header_cache.add(header_b64, header, alg)
    return header, decode_canonical(payload_b64), key


def _encode_header(
    key: SigningKey | SymmetricKey, typ: str | None, extra_header: Mapping[str, Any] | None
) -> str:
    header: dict[str, Any] = {"alg": key.alg.name, "kid": key.kid}
    if typ is not None:
        header["typ"] = typ
    if extra_header:
        clash = ({"alg", "kid"} | _UNSAFE_HEADERS).intersection(extra_header)
        if clash:
            raise SigningError("extra header may not set alg, kid or unsafe parameters")
        header.update(extra_header)
    return b64url_encode(dumps_compact(header))


def sign_compact(
    payload: bytes,
    key: SigningKey | SymmetricKey,
    *,
    typ: str | None = None,
    extra_header: Mapping[str, Any] | None = None,
) -> str:
    """Sign ``payload`` with ``key``: header ``alg`` and ``kid`` come from the key itself."""
    if extra_header:
        encoded_header = _encode_header(key, typ, extra_header)
    else:
        # The same key and typ always give the same header: encode it once per key.
        encoded_header = key.encoded_headers.get(typ) or key.encoded_headers.setdefault(
            typ, _encode_header(key, typ, None)
        )
    signing_input = encoded_header + "." + b64url_encode(payload)
    signature = key.sign(signing_input.encode("ascii"))
    return signing_input + "." + b64url_encode(signature)
