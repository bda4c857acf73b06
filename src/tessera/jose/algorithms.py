"""JWS algorithms (RFC 7518 §3, RFC 8037, RFC 9864) over ``cryptography``'s primitives.

ES256/384/512, RS256/384/512, PS256/384/512, EdDSA and Ed25519 (the same primitive under
its RFC 8037 and RFC 9864 names), and HS256/384/512 for symmetric keys only.

Each algorithm signs and verifies raw signing-input bytes with a ``cryptography`` key object,
so RFC and Wycheproof vectors run against it directly. ``verify`` returns nothing and raises
:class:`~tessera.errors.InvalidSignature`; it never returns a bool.

There is no ``none`` algorithm here, by design (RFC 8725 §3.1): a name that is not in
:data:`ALGORITHMS` cannot be verified at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from tessera.errors import InvalidKey, InvalidSignature, WeakKey

__all__ = [
    "ALGORITHMS",
    "ASYMMETRIC_ALGORITHMS",
    "MIN_HMAC_KEY_BYTES",
    "MIN_RSA_BITS",
    "Algorithm",
    "EcdsaAlgorithm",
    "EddsaAlgorithm",
    "HmacAlgorithm",
    "RsaAlgorithm",
    "get_algorithm",
]

MIN_RSA_BITS: Final = 2048  # RFC 7518 §3.3, §3.5
MIN_HMAC_KEY_BYTES: Final = 32  # RFC 7518 §3.2: key at least as long as the hash output

Verify = Callable[[bytes, bytes], None]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


class Algorithm:
    """One JWS ``alg``: its key type and raw sign/verify."""

    name: str
    kty: str
    symmetric: bool = False

    def sign(self, key: object, data: bytes) -> bytes:
        raise NotImplementedError

    def verify(self, key: object, data: bytes, signature: bytes) -> None:
        """Verify once with ``key``; raises :class:`InvalidSignature` (or ``InvalidKey``)."""
        self.verifier_for(key)(data, signature)

    def check_public_key(self, key: object) -> None:
        """Raise :class:`InvalidKey`/:class:`WeakKey` unless ``key`` suits this algorithm."""
        raise NotImplementedError

    def verifier_for(self, key: object) -> Verify:
        """Check ``key`` once and return ``verify(data, signature)`` bound to it.

        The verifier's hot path calls the result directly: one Python frame per signature.
        """
        raise NotImplementedError

    def check_private_key(self, key: object) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<Algorithm {self.name}>"


class EcdsaAlgorithm(Algorithm):
    """ES256/ES384: ECDSA with the signature as fixed-length big-endian r‖s (RFC 7518 §3.4)."""

    kty = "EC"

    def __init__(
        self, name: str, curve: ec.EllipticCurve, hash_alg: hashes.HashAlgorithm, order: int
    ) -> None:
        self.name = name
        self.curve = curve
        self.crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[curve.name]
        self._ecdsa = ec.ECDSA(hash_alg)
        self._order = order
        self.coordinate_bytes = (curve.key_size + 7) // 8

    def sign(self, key: object, data: bytes) -> bytes:
        self.check_private_key(key)
        assert isinstance(key, ec.EllipticCurvePrivateKey)  # noqa: S101 - narrowed by the check
        r, s = decode_dss_signature(key.sign(data, self._ecdsa))
        size = self.coordinate_bytes
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    def verifier_for(self, key: object) -> Verify:
        self.check_public_key(key)
        assert isinstance(key, ec.EllipticCurvePublicKey)  # noqa: S101 - narrowed by the check
        crypto_verify, ecdsa, order = key.verify, self._ecdsa, self._order
        size = self.coordinate_bytes
        from_bytes = int.from_bytes

        def verify(data: bytes, signature: bytes) -> None:
            if len(signature) != 2 * size:
                raise InvalidSignature("signature has the wrong length for its algorithm")
            r = from_bytes(signature[:size])
            s = from_bytes(signature[size:])
            if not (0 < r < order and 0 < s < order):  # CVE-2022-21449
                raise InvalidSignature("signature does not verify")
            try:
                crypto_verify(encode_dss_signature(r, s), data, ecdsa)
            except _CryptoInvalidSignature:
                raise InvalidSignature("signature does not verify") from None

        return verify

    def check_public_key(self, key: object) -> None:
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise InvalidKey(f"{self.name} needs an EC public key")
        if key.curve.name != self.curve.name:
            raise InvalidKey(f"{self.name} needs curve {self.crv}")

    def check_private_key(self, key: object) -> None:
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise InvalidKey(f"{self.name} needs an EC private key")
        if key.curve.name != self.curve.name:
            raise InvalidKey(f"{self.name} needs curve {self.crv}")


class RsaAlgorithm(Algorithm):
    """RS256 (PKCS#1 v1.5) and PS256 (PSS, MGF1, salt = hash length), RSA ≥ 2048 bits."""

    kty = "RSA"

    def __init__(self, name: str, hash_alg: hashes.HashAlgorithm, *, pss: bool) -> None:
        self.name = name
        self._hash = hash_alg
        # RFC 7518 §3.5: the salt is as long as the hash output.
        self._padding: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=hash_alg.digest_size)
            if pss
            else padding.PKCS1v15()
        )

    def sign(self, key: object, data: bytes) -> bytes:
        self.check_private_key(key)
        assert isinstance(key, rsa.RSAPrivateKey)  # noqa: S101 - narrowed by the check
        return key.sign(data, self._padding, self._hash)

    def verifier_for(self, key: object) -> Verify:
        self.check_public_key(key)
        assert isinstance(key, rsa.RSAPublicKey)  # noqa: S101 - narrowed by the check
        crypto_verify, pad, hash_alg = key.verify, self._padding, self._hash
        size = (key.key_size + 7) // 8

        def verify(data: bytes, signature: bytes) -> None:
            if len(signature) != size:
                raise InvalidSignature("signature has the wrong length for its key")
            try:
                crypto_verify(signature, data, pad, hash_alg)
            except _CryptoInvalidSignature:
                raise InvalidSignature("signature does not verify") from None

        return verify

    def check_public_key(self, key: object) -> None:
        if not isinstance(key, rsa.RSAPublicKey):
            raise InvalidKey(f"{self.name} needs an RSA public key")
        if key.key_size < MIN_RSA_BITS:
            raise WeakKey(f"RSA keys must have at least {MIN_RSA_BITS} bits")

    def check_private_key(self, key: object) -> None:
        if not isinstance(key, rsa.RSAPrivateKey):
            raise InvalidKey(f"{self.name} needs an RSA private key")
        if key.key_size < MIN_RSA_BITS:
            raise WeakKey(f"RSA keys must have at least {MIN_RSA_BITS} bits")


class EddsaAlgorithm(Algorithm):
    """Ed25519, under its RFC 8037 name ``EdDSA`` or its RFC 9864 name ``Ed25519``."""

    kty = "OKP"
    crv = "Ed25519"

    def __init__(self, name: str) -> None:
        self.name = name

    def sign(self, key: object, data: bytes) -> bytes:
        self.check_private_key(key)
        assert isinstance(key, ed25519.Ed25519PrivateKey)  # noqa: S101 - narrowed by the check
        return key.sign(data)

    def verifier_for(self, key: object) -> Verify:
        self.check_public_key(key)
        assert isinstance(key, ed25519.Ed25519PublicKey)  # noqa: S101 - narrowed by the check
        crypto_verify = key.verify

        def verify(data: bytes, signature: bytes) -> None:
            if len(signature) != 64:
                raise InvalidSignature("signature has the wrong length for its algorithm")
            try:
                crypto_verify(signature, data)
            except _CryptoInvalidSignature:
                raise InvalidSignature("signature does not verify") from None

        return verify

    def check_public_key(self, key: object) -> None:
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise InvalidKey(f"{self.name} needs an Ed25519 public key")

    def check_private_key(self, key: object) -> None:
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise InvalidKey(f"{self.name} needs an Ed25519 private key")


class HmacAlgorithm(Algorithm):
    """HS256/384/512. Reachable only through :class:`~tessera.jose.jwk.SymmetricKey`."""

    kty = "oct"
    symmetric = True

    def __init__(self, name: str, hash_alg: hashes.HashAlgorithm) -> None:
        self.name = name
        self._hash = hash_alg
        # RFC 7518 §3.2: a key at least as long as the hash output.
        self.min_key_bytes = max(MIN_HMAC_KEY_BYTES, hash_alg.digest_size)

    def sign(self, key: object, data: bytes) -> bytes:
        self.check_private_key(key)
        assert isinstance(key, bytes)  # noqa: S101 - narrowed by the check
        mac = hmac.HMAC(key, self._hash)
        mac.update(data)
        return mac.finalize()

    def verifier_for(self, key: object) -> Verify:
        self.check_public_key(key)
        assert isinstance(key, bytes)  # noqa: S101 - narrowed by the check
        hash_alg = self._hash

        def verify(data: bytes, signature: bytes) -> None:
            mac = hmac.HMAC(key, hash_alg)
            mac.update(data)
            try:
                mac.verify(signature)  # constant-time comparison inside cryptography
            except _CryptoInvalidSignature:
                raise InvalidSignature("signature does not verify") from None

        return verify

    def check_public_key(self, key: object) -> None:
        self.check_private_key(key)

    def check_private_key(self, key: object) -> None:
        if not isinstance(key, bytes):
            raise InvalidKey(f"{self.name} needs raw key bytes")
        if len(key) < self.min_key_bytes:
            raise WeakKey(f"{self.name} keys must be at least {self.min_key_bytes} bytes")


_P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_P384_ORDER: Final = int(
    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
    16,
)
_P521_ORDER: Final = int(
    "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
    "FA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
    16,
)

ALGORITHMS: Final[dict[str, Algorithm]] = {
    alg.name: alg
    for alg in (
        EcdsaAlgorithm("ES256", ec.SECP256R1(), hashes.SHA256(), _P256_ORDER),
        EcdsaAlgorithm("ES384", ec.SECP384R1(), hashes.SHA384(), _P384_ORDER),
        EcdsaAlgorithm("ES512", ec.SECP521R1(), hashes.SHA512(), _P521_ORDER),
        EddsaAlgorithm("EdDSA"),
        EddsaAlgorithm("Ed25519"),
        RsaAlgorithm("RS256", hashes.SHA256(), pss=False),
        RsaAlgorithm("RS384", hashes.SHA384(), pss=False),
        RsaAlgorithm("RS512", hashes.SHA512(), pss=False),
        RsaAlgorithm("PS256", hashes.SHA256(), pss=True),
        RsaAlgorithm("PS384", hashes.SHA384(), pss=True),
        RsaAlgorithm("PS512", hashes.SHA512(), pss=True),
        HmacAlgorithm("HS256", hashes.SHA256()),
        HmacAlgorithm("HS384", hashes.SHA384()),
        HmacAlgorithm("HS512", hashes.SHA512()),
    )
}
"""Every algorithm Tessera knows, by its exact (case-sensitive) JWS name."""

ASYMMETRIC_ALGORITHMS: Final = frozenset(n for n, a in ALGORITHMS.items() if not a.symmetric)


def get_algorithm(name: object) -> Algorithm:
    """Look up an algorithm by exact name; unknown names (``none`` among them) raise."""
    if isinstance(name, str):
        alg = ALGORITHMS.get(name)
        if alg is not None:
            return alg
    raise InvalidKey("unknown or unsupported algorithm")
