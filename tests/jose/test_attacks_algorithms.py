"""SECURITY.md §1 — algorithms and keys, attacked through the Verifier.

Sources: RFC 8725 §2.1, §3.1; RFC 7518 §3.2, §3.4; CVE-2016-10555, CVE-2020-28042,
CVE-2022-21449, CVE-2022-29217, CVE-2024-33663, CVE-2024-37568.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from _atk import (
    ASYMMETRIC_ALGS,
    AUDIENCE,
    ISSUER,
    NOW,
    claims,
    header,
    key_set,
    make_token,
    refuse,
    signing_key,
    to_json,
    verifier,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from tessera.errors import (
    AlgorithmNotAllowed,
    ConfigurationError,
    InvalidKey,
    InvalidKeySet,
    InvalidSignature,
    MalformedToken,
    WeakKey,
)
from tessera.jose import ALGORITHMS, KeySet, SigningKey, SymmetricKey, get_algorithm
from tessera.jose.b64 import b64url_decode, b64url_encode
from tessera.verify import Verifier

NONE_SPELLINGS = ("none", "None", "NONE", "nOnE")
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _signing_input(alg: str, kid: str | None = None) -> str:
    hdr: dict[str, object] = {"alg": alg, "typ": "at+jwt"}
    if kid is not None:
        hdr["kid"] = kid
    return b64url_encode(to_json(hdr)) + "." + b64url_encode(to_json(claims()))


# ------------------------------------------------------------------------ alg: none


@pytest.mark.parametrize("alg", NONE_SPELLINGS)
def test_alg_none_with_a_valid_signature_is_refused(alg):
    """§1 `alg: none` with a signature → 401 [RFC 8725 §3.1]. Signed by the trusted key."""
    key = signing_key("ES256")
    token = make_token(key, hdr=header(key, alg=alg))
    refuse(verifier("ES256"), token, AlgorithmNotAllowed, alg)


@pytest.mark.parametrize("alg", NONE_SPELLINGS)
def test_alg_none_refused_even_when_every_algorithm_is_pinned(alg):
    """§1 `alg: none` → 401 whatever the allowlist: `none` does not exist in the code."""
    key = signing_key("ES256")
    token = make_token(key, hdr=header(key, alg=alg))
    refuse(verifier(*ASYMMETRIC_ALGS), token, AlgorithmNotAllowed)


@pytest.mark.parametrize("alg", NONE_SPELLINGS)
def test_alg_none_without_a_signature_is_refused(alg):
    """§1 `alg: none` without a signature (`h.p.`) → 401; the empty segment (rule 1) fires first."""
    signing_input = _signing_input(alg)
    refuse(verifier("ES256"), signing_input + ".", MalformedToken)


@pytest.mark.parametrize("alg", NONE_SPELLINGS)
def test_alg_none_refused_when_no_key_is_configured(alg):
    """§1 `alg: none` → 401 also when the verifier trusts no key at all."""
    empty = verifier("ES256", keys=KeySet([]))
    signing_input = _signing_input(alg)
    refuse(empty, signing_input + ".", MalformedToken)
    refuse(empty, signing_input + "." + b64url_encode(b"\x00" * 64), AlgorithmNotAllowed)


@pytest.mark.parametrize("alg", NONE_SPELLINGS)
def test_none_cannot_be_configured_or_looked_up(alg):
    """§1 "The code has no `none` algorithm at all" [RFC 8725 §3.1]."""
    assert alg not in ALGORITHMS
    assert all(name.lower() != "none" for name in ALGORITHMS)
    with pytest.raises(InvalidKey):
        get_algorithm(alg)
    with pytest.raises(ConfigurationError):
        Verifier(issuer=ISSUER, audience=AUDIENCE, algorithms=[alg], keys=key_set("ES256"))
    with pytest.raises(ConfigurationError):
        Verifier(issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256", alg], keys=key_set("ES256"))


# ---------------------------------------------------------------- empty signature


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA", "HS256"])
def test_empty_signature_segment_is_refused(alg):
    """§1 `header.payload.` (empty signature) → 401 [CVE-2020-28042]."""
    key = signing_key(alg)
    token = make_token(key)
    stripped = token.rsplit(".", 1)[0] + "."
    refuse(verifier(alg), stripped, MalformedToken)


# ------------------------------------------------- HS256 with the server's public key


def _public_encodings(alg: str) -> dict[str, bytes]:
    """The server's public key in every encoding an attacker can download."""
    key = signing_key(alg)
    assert isinstance(key, SigningKey)
    pub = key.public.public_key
    enc, fmt = serialization.Encoding, serialization.PublicFormat
    forms = {
        "pem": pub.public_bytes(enc.PEM, fmt.SubjectPublicKeyInfo),
        "pem-crlf": pub.public_bytes(enc.PEM, fmt.SubjectPublicKeyInfo).replace(b"\n", b"\r\n"),
        "der": pub.public_bytes(enc.DER, fmt.SubjectPublicKeyInfo),
        "openssh": pub.public_bytes(enc.OpenSSH, fmt.OpenSSH),
        "jwk-json": json.dumps(key.public.to_jwk()).encode(),
        "jwk-json-compact": to_json(key.public.to_jwk()),
        "jwk-json-pretty": json.dumps(key.public.to_jwk(), indent=2).encode(),
    }
    if alg.startswith("ES"):
        forms["x962-uncompressed"] = pub.public_bytes(enc.X962, fmt.UncompressedPoint)
        forms["x962-compressed"] = pub.public_bytes(enc.X962, fmt.CompressedPoint)
    if alg.startswith(("RS", "PS")):
        forms["pkcs1-pem"] = pub.public_bytes(enc.PEM, fmt.PKCS1)
        forms["pkcs1-der"] = pub.public_bytes(enc.DER, fmt.PKCS1)
    return forms


def _hmac_token(secret: bytes, kid: str | None) -> str:
    signing_input = _signing_input("HS256", kid)
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + b64url_encode(mac)


def _alg_forms(algs: tuple[str, ...], forms: tuple[str, ...]) -> list[tuple[str, str]]:
    """(alg, encoding) pairs; PKCS#1 exists for RSA keys only, X9.62 points for EC."""
    return [
        (alg, form)
        for alg in algs
        for form in forms
        if (not form.startswith("pkcs1") or alg.startswith(("RS", "PS")))
        and (not form.startswith("x962") or alg.startswith("ES"))
    ]


_HS_CONFUSION_CASES = _alg_forms(
    ("ES256", "RS256"), ("pem", "der", "openssh", "jwk-json", "pkcs1-pem", "pkcs1-der")
)
_WEAK_SECRET_CASES = _alg_forms(
    ("ES256", "ES384", "ES512", "RS256", "EdDSA"),
    (
        "pem",
        "pem-crlf",
        "der",
        "openssh",
        "jwk-json",
        "jwk-json-compact",
        "jwk-json-pretty",
        "pkcs1-pem",
        "pkcs1-der",
        "x962-uncompressed",
        "x962-compressed",
    ),
)


@pytest.mark.parametrize(("server_alg", "form"), _HS_CONFUSION_CASES)
@pytest.mark.parametrize("with_kid", [True, False])
def test_hs256_signed_with_server_public_key_is_refused(server_alg, form, with_kid):
    """§1 HS256 signed with the server's PUBLIC key → 401 [CVE-2016-10555, CVE-2022-29217]."""
    forms = _public_encodings(server_alg)
    kid = signing_key(server_alg).kid if with_kid else None
    token = _hmac_token(forms[form], kid)
    refuse(verifier(server_alg), token, AlgorithmNotAllowed)


@pytest.mark.parametrize("server_alg", ["ES256", "RS256"])
@pytest.mark.parametrize("with_kid", [True, False])
def test_hs256_refused_even_if_allowlisted_beside_asymmetric_keys(server_alg, with_kid):
    """§1 "Each key is bound to exactly one algorithm and the header's alg must equal it".

    A misconfigured verifier pinned to HS256 but holding only the public key still refuses
    the HMAC-with-public-key token: the key's own alg is not HS256.
    """
    public_pem = _public_encodings(server_alg)["pem"]
    kid = signing_key(server_alg).kid if with_kid else None
    misconfigured = Verifier(
        issuer=ISSUER,
        audience=AUDIENCE,
        algorithms=["HS256"],
        keys=key_set(server_alg),
    )
    refuse(misconfigured, _hmac_token(public_pem, kid), AlgorithmNotAllowed)


@pytest.mark.parametrize("server_alg", ["ES256", "RS256"])
def test_hs256_signed_with_an_empty_key_is_refused(server_alg):
    """§1 HS256 signed with an empty key → 401 [CVE-2024-33663]."""
    refuse(verifier(server_alg), _hmac_token(b"", None), AlgorithmNotAllowed)


def test_hs256_empty_key_token_refused_by_an_hs256_verifier():
    """§1 empty-key HMAC against a verifier that really uses HS256: signature fails."""
    key = signing_key("HS256")
    refuse(verifier("HS256"), _hmac_token(b"", key.kid), InvalidSignature)
    refuse(verifier("HS256"), _hmac_token(b"", None), InvalidSignature)


@pytest.mark.parametrize(("server_alg", "form"), _WEAK_SECRET_CASES)
def test_symmetric_key_refuses_public_key_encodings(server_alg, form):
    """§1 "HMAC keys are ≥ 32 random bytes; … well-known secrets are refused at load".

    A public key in any encoding (PEM, DER, PKCS#1, OpenSSH, JWK JSON) is public, hence
    not a secret: refused as an HMAC key [CVE-2022-29217, CVE-2024-37568].
    """
    secret = _public_encodings(server_alg)[form]
    assert len(secret) >= 32  # long enough: only the public-key rule can refuse it
    with pytest.raises(WeakKey) as info:
        SymmetricKey(secret)
    assert type(info.value) is WeakKey


@pytest.mark.parametrize(
    "algorithms",
    [
        ["HS256", "ES256"],
        ["ES256", "HS256"],
        ["HS256", "RS256"],
        ["HS384", "PS256"],
        ["HS512", "EdDSA"],
        ["RS256", "ES256", "HS256"],
    ],
)
def test_verifier_refuses_hmac_beside_asymmetric_algorithms(algorithms):
    """§1 / RFC 8725 §3.1: HS256 may never be accepted beside an asymmetric alg."""
    with pytest.raises(ConfigurationError):
        Verifier(
            issuer=ISSUER,
            audience=AUDIENCE,
            algorithms=algorithms,
            keys=key_set("ES256"),
        )


def test_key_set_refuses_mixing_symmetric_and_asymmetric_keys():
    """§1 / RFC 8725 §3.1: a public key must never sit beside HMAC secrets."""
    public = signing_key("ES256").public
    secret = signing_key("HS256")
    assert isinstance(secret, SymmetricKey)
    with pytest.raises(InvalidKeySet):
        KeySet([secret, public])
    with pytest.raises(InvalidKeySet):
        KeySet([public, secret])
    with pytest.raises(InvalidKeySet):
        KeySet.symmetric_set([secret, public])  # type: ignore[list-item]


def test_jwks_import_refuses_symmetric_members():
    """§1: a JWKS (public document) can never smuggle in an HMAC secret."""
    secret = signing_key("HS256")
    assert isinstance(secret, SymmetricKey)
    with pytest.raises(InvalidKeySet):
        KeySet.from_jwks({"keys": [secret.export_private_jwk()]})


# ------------------------------------------------------------ weak HMAC secrets


def _distinct(n: int) -> bytes:
    """``n`` distinct bytes: passes the variety rule, so only the length rule can refuse."""
    return bytes(range(100, 100 + n))


@pytest.mark.parametrize(("alg", "minimum"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_hmac_key_shorter_than_hash_is_refused(alg, minimum):
    """§1 "HMAC keys are ≥ 32 random bytes" [RFC 7518 §3.2: at least the hash size]."""
    SymmetricKey(_distinct(minimum), alg)
    for size in (0, 1, 16, minimum - 1):
        with pytest.raises(WeakKey):
            SymmetricKey(_distinct(size), alg)


@pytest.mark.parametrize(
    "secret",
    [
        b"your-256-bit-secret",
        b"your-256-bit-secret".ljust(32),
        b"your-256-bit-secret".ljust(40, b"\n"),
        b"  your-256-bit-secret          \t\n",
        b"YOUR-256-BIT-SECRET".ljust(32),
        b"your-512-bit-secret".ljust(64),
        b"a-string-secret-at-least-256-bits-long",
        b"A-STRING-SECRET-AT-LEAST-256-BITS-LONG",
        b"this-is-a-very-long-secret-key-for-testing",
        b"supersecretkeythatshouldbechanged",
        b"12345678901234567890123456789012",
    ],
)
def test_well_known_hmac_secrets_are_refused(secret):
    """§1 "shorter or well-known secrets are refused at load" [CVE-2024-33663]."""
    with pytest.raises(WeakKey):
        SymmetricKey(secret)


@pytest.mark.parametrize("secret", [bytes(32), b"a" * 64, b"ab" * 32, b"secret" * 8])
def test_low_variety_hmac_secrets_are_refused(secret):
    """§1 "HMAC keys are ≥ 32 random bytes": long but obviously not random → refused."""
    with pytest.raises(WeakKey):
        SymmetricKey(secret)


# ------------------------------------------------------- ECDSA signature encodings


def _es256_parts() -> tuple[str, int, int]:
    key = signing_key("ES256")
    signing_input = _signing_input("ES256", key.kid)
    raw = key.sign(signing_input.encode("ascii"))
    return signing_input, int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")


def _rs(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def test_es256_valid_raw_signature_verifies():
    """Positive control for the ES256 cases below: the unmodified r‖s verifies."""
    signing_input, r, s = _es256_parts()
    token = signing_input + "." + b64url_encode(_rs(r, s))
    assert verifier("ES256").verify(token, now=NOW)["sub"] == "user-1"


@pytest.mark.parametrize(
    "case",
    ["zeros", "r=0", "s=0", "r=n", "s=n", "r=s=n", "der", "len63", "len65", "len65-prefixed"],
)
def test_es256_invalid_signature_encodings_are_refused(case):
    """§1 ES256 r=s=0, r or s = n, DER instead of r‖s, length ≠ 64 → 401.

    [CVE-2022-21449 "psychic signatures"; RFC 7518 §3.4]
    """
    signing_input, r, s = _es256_parts()
    valid = _rs(r, s)
    signature = {
        "zeros": bytes(64),
        "r=0": _rs(0, s),
        "s=0": _rs(r, 0),
        "r=n": _rs(P256_ORDER, s),
        "s=n": _rs(r, P256_ORDER),
        "r=s=n": _rs(P256_ORDER, P256_ORDER),
        "der": encode_dss_signature(r, s),
        "len63": valid[:63],
        "len65": valid + b"\x00",
        "len65-prefixed": b"\x00" + valid,
    }[case]
    if case == "der":
        assert decode_dss_signature(signature) == (r, s)  # the same signature, other encoding
    token = signing_input + "." + b64url_encode(signature)
    refuse(verifier("ES256"), token, InvalidSignature)


@pytest.mark.parametrize(("alg", "size"), [("ES256", 64), ("ES384", 96), ("ES512", 132)])
def test_psychic_signature_refused_for_every_curve(alg, size):
    """§1 all-zero signature of the right length → 401 on every curve [CVE-2022-21449]."""
    key = signing_key(alg)
    token = make_token(key)
    zeroed = token.rsplit(".", 1)[0] + "." + b64url_encode(bytes(size))
    refuse(verifier(alg), zeroed, InvalidSignature)


@pytest.mark.parametrize("alg", ["RS256", "PS256", "EdDSA"])
def test_signature_of_wrong_length_is_refused(alg):
    """RFC 8017 §8.2.2 / RFC 8032 §5.1.7: a signature has exactly its fixed length."""
    key = signing_key(alg)
    head, _, sig = make_token(key).rpartition(".")
    for signature in (b"\x00" + b64url_decode(sig), b64url_decode(sig)[:-1]):
        refuse(verifier(alg), head + "." + b64url_encode(signature), InvalidSignature)


# ------------------------------------------------------------------ JWE in a JWS slot


@pytest.mark.parametrize(
    "jwe",
    [
        # RFC 7516 §7.1 compact JWE: header.encrypted_key.iv.ciphertext.tag
        b64url_encode(b'{"alg":"RSA-OAEP","enc":"A256GCM"}') + ".ZWs.aXY.Y3Q.dGFn",
        b64url_encode(b'{"alg":"dir","enc":"A256GCM"}') + "..aXY.Y3Q.dGFn",
    ],
)
def test_five_segment_jwe_is_refused_where_a_jws_is_expected(jwe):
    """§1 a 5-segment JWE where a JWS is expected → 401 [RFC 8725 §3.3]."""
    refuse(verifier("ES256"), jwe, MalformedToken)


def test_jws_nested_in_five_segments_is_refused():
    """§1 / RFC 8725 §3.3: a valid JWS wrapped into five segments is still not a JWS."""
    token = make_token(signing_key("ES256"))
    refuse(verifier("ES256"), token + ".aXY.dGFn", MalformedToken)
