"""Builders for the hostile-input tests (``test_attacks_*.py``, ``test_properties.py``).

Every builder makes an OTHERWISE-VALID token: trusted key, right issuer and audience, live
times, ``typ: at+jwt``. A test changes exactly one thing, so it fails if the one rule it
targets were removed (the token would then verify, or another error would be raised).
Headers and payloads can be given as raw bytes, signed by hand over the literal signing
input, to reach the parser with JSON that ``json.dumps`` would never produce.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Final

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tessera.errors import TesseraError
from tessera.jose import KeySet, SigningKey, SymmetricKey
from tessera.jose.b64 import b64url_encode
from tessera.verify import Verifier

ISSUER: Final = "https://issuer.example"
AUDIENCE: Final = "https://api.example"
NOW: Final = 1_700_000_000
ASYMMETRIC_ALGS: Final = (
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
    "Ed25519",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
)
HMAC_ALGS: Final = ("HS256", "HS384", "HS512")
ALL_ALGS: Final = ASYMMETRIC_ALGS + HMAC_ALGS


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()
"""Pass as a value to drop that member from the default header or claims."""

AnyKey = SigningKey | SymmetricKey


@functools.cache
def rsa_private() -> rsa.RSAPrivateKey:
    """One 2048-bit key for every RS/PS test (key generation is the slow part)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def signing_key(alg: str) -> AnyKey:
    """The trusted key for ``alg`` (kid ``atk-<alg>``), made once per session."""
    kid = f"atk-{alg}"
    if alg in HMAC_ALGS:
        return SymmetricKey.generate(alg, kid=kid)
    if alg.startswith(("RS", "PS")):
        return SigningKey(rsa_private(), alg, kid=kid)
    return SigningKey.generate(alg, kid=kid)


def key_set(*algs: str) -> KeySet:
    keys = [signing_key(alg) for alg in algs]
    if keys and all(isinstance(k, SymmetricKey) for k in keys):
        return KeySet.symmetric_set(k for k in keys if isinstance(k, SymmetricKey))
    return KeySet(k.public for k in keys if isinstance(k, SigningKey))


def verifier(*algs: str, keys: KeySet | None = None, **options: Any) -> Verifier:
    """A Verifier pinned to ``algs`` that trusts exactly the keys for ``algs``."""
    return Verifier(
        issuer=ISSUER,
        audience=AUDIENCE,
        algorithms=list(algs),
        keys=key_set(*algs) if keys is None else keys,
        **options,
    )


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **overrides}
    return {name: value for name, value in merged.items() if value is not ABSENT}


def claims(**overrides: Any) -> dict[str, Any]:
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": NOW,
        "exp": NOW + 300,
        "jti": "jti-1",
    }
    return _merge(base, overrides)


def header(key: AnyKey, **overrides: Any) -> dict[str, Any]:
    return _merge({"alg": key.alg.name, "kid": key.kid, "typ": "at+jwt"}, overrides)


def to_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def sign_segments(header_bytes: bytes, payload_bytes: bytes, key: AnyKey) -> str:
    """Sign the literal signing input ``b64(header).b64(payload)`` with ``key``."""
    signing_input = b64url_encode(header_bytes) + "." + b64url_encode(payload_bytes)
    return signing_input + "." + b64url_encode(key.sign(signing_input.encode("ascii")))


def make_token(
    key: AnyKey,
    *,
    hdr: dict[str, Any] | bytes | None = None,
    payload: dict[str, Any] | bytes | None = None,
) -> str:
    header_bytes = hdr if isinstance(hdr, bytes) else to_json(header(key) if hdr is None else hdr)
    payload_bytes = (
        payload if isinstance(payload, bytes) else to_json(claims() if payload is None else payload)
    )
    return sign_segments(header_bytes, payload_bytes, key)


def assert_no_leak(exc: BaseException, *values: str) -> None:
    """SECURITY.md preamble: an error never reflects the token or an attacker's value."""
    texts = [str(exc), repr(exc)]
    if isinstance(exc, TesseraError):
        texts.append(repr(exc.fields))
    for value in filter(None, values):
        for text in texts:
            assert value not in text, f"error text reflects attacker input {value!r}"


def token_parts(token: str) -> list[str]:
    """The token and its segments long enough to be recognisable in a message."""
    return [token, *(part for part in token.split(".") if len(part) >= 8)]


def refuse(
    verifier_: Verifier,
    token: Any,
    error: type[TesseraError],
    *attacker_values: str,
    now: float = NOW,
) -> TesseraError:
    """Verify ``token`` and require exactly ``error`` (not a subclass), with a safe message."""
    with pytest.raises(error) as info:
        verifier_.verify(token, now=now)
    exc = info.value
    assert type(exc) is error, f"expected {error.__name__}, got {type(exc).__name__}"
    assert exc.code == error.code
    assert_no_leak(exc, *(token_parts(token) if isinstance(token, str) else ()), *attacker_values)
    return exc
