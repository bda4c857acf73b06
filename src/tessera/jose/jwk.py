"""JSON Web Keys (RFC 7517, RFC 7518 §6, RFC 8037) with one pinned algorithm each.

Three key types, deliberately distinct so they cannot be confused:

- :class:`VerificationKey` — an asymmetric PUBLIC key; verifies only.
- :class:`SigningKey` — an asymmetric PRIVATE key; signs, and yields its public half.
- :class:`SymmetricKey` — an HMAC secret (HS256); never in the same set as asymmetric keys,
  so a public key can never be used as an HMAC secret (CVE-2016-10555, CVE-2022-29217).

Every key is bound to exactly one ``alg`` and ``use: sig``. A JWK without ``alg`` gets one
only when the caller's algorithm allowlist leaves exactly one choice for its key type.
Private members are exported only through the explicitly named ``export_private_jwk``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Collection, Mapping
from typing import Any, Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tessera.errors import InvalidKey, TesseraError, WeakKey
from tessera.jose.algorithms import (
    ALGORITHMS,
    Algorithm,
    EcdsaAlgorithm,
    HmacAlgorithm,
    PrivateKey,
    PublicKey,
)
from tessera.jose.b64 import b64url_decode, b64url_encode
from tessera.jose.roca import is_roca_vulnerable

__all__ = ["PRIVATE_MEMBERS", "SigningKey", "SymmetricKey", "VerificationKey", "thumbprint"]

PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_CURVES: Final[dict[str, ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}
_CRV_BY_CURVE: Final = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_COORD_BYTES: Final = {"P-256": 32, "P-384": 48, "P-521": 66}
# Which algorithms a key type (and curve) can serve.
_ALGS_FOR: Final[dict[tuple[str, str | None], frozenset[str]]] = {
    ("EC", "P-256"): frozenset({"ES256"}),
    ("EC", "P-384"): frozenset({"ES384"}),
    ("EC", "P-521"): frozenset({"ES512"}),
    ("OKP", "Ed25519"): frozenset({"EdDSA", "Ed25519"}),
    ("RSA", None): frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    ("oct", None): frozenset({"HS256", "HS384", "HS512"}),
}
# Secrets that appear in tutorials, defaults and leaked configs; refused as HMAC keys even
# when long enough. Compared case-insensitively after stripping.
_WELL_KNOWN_SECRETS: Final = frozenset(
    s.encode()
    for s in (
        "secret",
        "your-256-bit-secret",
        "your-384-bit-secret",
        "your-512-bit-secret",
        "changeme",
        "change-me-to-a-long-random-secret",
        "supersecretkeythatshouldbechanged",
        "this-is-a-very-long-secret-key-for-testing",
        "a-string-secret-at-least-256-bits-long",
        "thisisaverylongsecretkeythatshouldbechanged",
        "00000000000000000000000000000000",
        "12345678901234567890123456789012",
    )
)


def _member(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidKey(f"JWK member {name!r} is missing or not a string")
    try:
        return b64url_decode(value, what=f"JWK member {name!r}")
    except TesseraError as exc:
        raise InvalidKey(f"JWK member {name!r} is not canonical base64url") from exc


def _uint(jwk: Mapping[str, Any], name: str) -> int:
    return int.from_bytes(_member(jwk, name), "big")


def _fixed(jwk: Mapping[str, Any], name: str, size: int) -> bytes:
    raw = _member(jwk, name)
    if len(raw) != size:  # RFC 7518 §6.2.1.2: full-length coordinates
        raise InvalidKey(f"JWK member {name!r} has the wrong length")
    return raw


def _to_b64_uint(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url_encode(value.to_bytes(length, "big"))


def _check_members(jwk: Mapping[str, Any], *, for_signing: bool) -> None:
    """RFC 7517 §4.2–4.3: ``use`` must be ``sig`` and ``key_ops`` must allow our use."""
    use = jwk.get("use", "sig")
    if use != "sig":
        raise InvalidKey("JWK 'use' must be 'sig'")
    ops = jwk.get("key_ops")
    if ops is not None:
        needed = "sign" if for_signing else "verify"
        if not isinstance(ops, list) or needed not in ops:
            raise InvalidKey(f"JWK 'key_ops' does not allow {needed!r}")
    kid = jwk.get("kid")
    if kid is not None and (not isinstance(kid, str) or not kid):
        raise InvalidKey("JWK 'kid' must be a non-empty string")
    if "x5c" in jwk or "x5u" in jwk:
        # Certificates are not trusted through a JWK here; mTLS binding has its own path.
        raise InvalidKey("JWK certificate members are not supported")


def _pin_algorithm(
    jwk: Mapping[str, Any], kty: str, crv: str | None, allowed: Collection[str] | None
) -> Algorithm:
    """Return the key's one algorithm: its own ``alg``, else the single fit in ``allowed``."""
    fits = _ALGS_FOR.get((kty, crv if kty in ("EC", "OKP") else None))
    if fits is None:
        raise InvalidKey("unsupported key type or curve")
    alg = jwk.get("alg")
    if alg is not None:
        if not isinstance(alg, str) or alg not in fits:
            raise InvalidKey("JWK 'alg' does not match its key type")
        if allowed is not None and alg not in allowed:
            raise InvalidKey("JWK 'alg' is not in the allowed algorithms")
        return ALGORITHMS[alg]
    candidates = fits if allowed is None else fits & frozenset(allowed)
    if len(candidates) != 1:
        raise InvalidKey("JWK has no 'alg' and the allowed algorithms leave it ambiguous")
    return ALGORITHMS[next(iter(candidates))]


def _thumbprint_members(public_jwk: Mapping[str, Any]) -> dict[str, Any]:
    kty = public_jwk["kty"]
    names = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}
    names_oct = ("k", "kty")
    return {n: public_jwk[n] for n in names.get(kty, names_oct)}


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of a JWK (its required members, sorted, no whitespace)."""
    members = _thumbprint_members(jwk)
    data = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64url_encode(hashlib.sha256(data).digest())


# --------------------------------------------------------------------------- public keys


def _public_from_jwk(jwk: Mapping[str, Any]) -> tuple[PublicKey, str | None]:
    kty = jwk.get("kty")
    if kty == "EC":
        crv = jwk.get("crv")
        if not isinstance(crv, str) or crv not in _CURVES:
            raise InvalidKey("unsupported EC curve")
        size = _COORD_BYTES[crv]
        x = int.from_bytes(_fixed(jwk, "x", size), "big")
        y = int.from_bytes(_fixed(jwk, "y", size), "big")
        try:
            # cryptography checks that the point is on the curve (invalid-curve attacks).
            return ec.EllipticCurvePublicNumbers(x, y, _CURVES[crv]).public_key(), crv
        except ValueError as exc:
            raise InvalidKey("EC point is not on the curve") from exc
    if kty == "RSA":
        n, e = _uint(jwk, "n"), _uint(jwk, "e")
        if e < 3 or e % 2 == 0:
            raise WeakKey("RSA public exponent must be odd and at least 3")
        if n.bit_length() < 2048:
            raise WeakKey("RSA keys must have at least 2048 bits")
        if is_roca_vulnerable(n):
            raise WeakKey("RSA key has the ROCA fingerprint (CVE-2017-15361)")
        try:
            return rsa.RSAPublicNumbers(e, n).public_key(), None
        except ValueError as exc:
            raise InvalidKey("RSA public key is invalid") from exc
    if kty == "OKP":
        if jwk.get("crv") != "Ed25519":
            raise InvalidKey("unsupported OKP curve")
        return ed25519.Ed25519PublicKey.from_public_bytes(_fixed(jwk, "x", 32)), "Ed25519"
    if kty == "oct":
        raise InvalidKey("a symmetric key cannot be a verification key; use SymmetricKey")
    raise InvalidKey("unsupported key type")


def _public_jwk_members(key: PublicKey) -> dict[str, Any]:
    if isinstance(key, ec.EllipticCurvePublicKey):
        crv = _CRV_BY_CURVE.get(key.curve.name)
        if crv is None:
            raise InvalidKey("unsupported EC curve")
        nums = key.public_numbers()
        size = _COORD_BYTES[crv]
        return {
            "kty": "EC",
            "crv": crv,
            "x": _to_b64_uint(nums.x, size),
            "y": _to_b64_uint(nums.y, size),
        }
    if isinstance(key, rsa.RSAPublicKey):
        nums_r = key.public_numbers()
        return {"kty": "RSA", "n": _to_b64_uint(nums_r.n), "e": _to_b64_uint(nums_r.e)}
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    raise InvalidKey("unsupported public key type")


class VerificationKey:
    """An asymmetric public key pinned to one algorithm. Verifies; never signs."""

    __slots__ = ("_jwk", "alg", "kid", "public_key", "verify")

    def __init__(self, public_key: PublicKey, alg: str, kid: str | None = None) -> None:
        algorithm = ALGORITHMS.get(alg)
        if algorithm is None or algorithm.symmetric:
            raise InvalidKey("a verification key needs an asymmetric algorithm")
        # Bound once: the verifier's hot path calls this without re-dispatching on key type.
        self.verify = algorithm.verifier_for(public_key)
        if isinstance(public_key, rsa.RSAPublicKey) and is_roca_vulnerable(
            public_key.public_numbers().n
        ):
            raise WeakKey("RSA key has the ROCA fingerprint (CVE-2017-15361)")
        self.public_key = public_key
        self.alg: Algorithm = algorithm
        members = _public_jwk_members(public_key)
        self.kid: str = kid if kid is not None else thumbprint(members)
        self._jwk = {**members, "kid": self.kid, "alg": alg, "use": "sig"}

    @classmethod
    def from_jwk(
        cls, jwk: Mapping[str, Any] | str, *, algorithms: Collection[str] | None = None
    ) -> VerificationKey:
        """Import a public JWK. Private members are refused: a public set must stay public."""
        data = _as_mapping(jwk)
        if PRIVATE_MEMBERS & data.keys():
            raise InvalidKey("a public JWK must not carry private members")
        _check_members(data, for_signing=False)
        public_key, crv = _public_from_jwk(data)
        algorithm = _pin_algorithm(data, str(data["kty"]), crv, algorithms)
        kid = data.get("kid")
        return cls(public_key, algorithm.name, kid if isinstance(kid, str) else None)

    @classmethod
    def from_pem(cls, pem: bytes, alg: str, kid: str | None = None) -> VerificationKey:
        try:
            public_key = serialization.load_pem_public_key(pem)
        except ValueError as exc:
            raise InvalidKey("not a PEM public key") from exc
        if not isinstance(
            public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
        ):
            raise InvalidKey("unsupported public key type")
        return cls(public_key, alg, kid)

    def to_jwk(self) -> dict[str, Any]:
        """The public JWK, with ``kid``, ``alg`` and ``use`` always present."""
        return dict(self._jwk)

    def thumbprint(self) -> str:
        return thumbprint(self._jwk)

    def __repr__(self) -> str:
        return f"VerificationKey(alg={self.alg.name!r}, kid={self.kid!r})"


# -------------------------------------------------------------------------- private keys


def _private_from_jwk(jwk: Mapping[str, Any]) -> PrivateKey:
    public_key, _crv = _public_from_jwk(jwk)
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            crv = jwk["crv"]
            d = int.from_bytes(_fixed(jwk, "d", _COORD_BYTES[crv]), "big")
            return ec.EllipticCurvePrivateNumbers(d, public_key.public_numbers()).private_key()
        if isinstance(public_key, rsa.RSAPublicKey):
            if "oth" in jwk:
                raise InvalidKey("multi-prime RSA keys are not supported")
            pub = public_key.public_numbers()
            d = _uint(jwk, "d")
            if all(m in jwk for m in ("p", "q", "dp", "dq", "qi")):
                p, q = _uint(jwk, "p"), _uint(jwk, "q")
                dp, dq, qi = _uint(jwk, "dp"), _uint(jwk, "dq"), _uint(jwk, "qi")
            else:
                p, q = rsa.rsa_recover_prime_factors(pub.n, pub.e, d)
                dp, dq, qi = rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q)
            return rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, pub).private_key()
        raw = _fixed(jwk, "d", 32)
        private = ed25519.Ed25519PrivateKey.from_private_bytes(raw)
    except (ValueError, TypeError) as exc:
        raise InvalidKey("private key members are inconsistent") from exc
    if private.public_key() != public_key:
        raise InvalidKey("private key does not match its public members")
    return private


class SigningKey:
    """An asymmetric private key pinned to one algorithm."""

    __slots__ = ("_private", "alg", "encoded_headers", "kid", "public")

    def __init__(self, private_key: PrivateKey, alg: str, kid: str | None = None) -> None:
        algorithm = ALGORITHMS.get(alg)
        if algorithm is None or algorithm.symmetric:
            raise InvalidKey("a signing key needs an asymmetric algorithm")
        algorithm.check_private_key(private_key)
        self._private = private_key
        self.alg: Algorithm = algorithm
        self.public = VerificationKey(private_key.public_key(), alg, kid)
        self.kid: str = self.public.kid
        # Encoded JWS headers by typ, filled by tessera.jose.jws.sign_compact.
        self.encoded_headers: dict[str | None, str] = {}

    @classmethod
    def generate(cls, alg: str, kid: str | None = None) -> SigningKey:
        """A fresh key for ``alg`` (RSA: 2048 bits, e = 65537)."""
        algorithm = ALGORITHMS.get(alg)
        if algorithm is None or algorithm.symmetric:
            raise InvalidKey("a signing key needs an asymmetric algorithm")
        private: PrivateKey
        if isinstance(algorithm, EcdsaAlgorithm):
            private = ec.generate_private_key(algorithm.curve)
        elif algorithm.kty == "RSA":
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            private = ed25519.Ed25519PrivateKey.generate()
        return cls(private, alg, kid)

    @classmethod
    def from_jwk(
        cls, jwk: Mapping[str, Any] | str, *, algorithms: Collection[str] | None = None
    ) -> SigningKey:
        data = _as_mapping(jwk)
        _check_members(data, for_signing=True)
        private = _private_from_jwk(data)
        crv = data.get("crv") if isinstance(data.get("crv"), str) else None
        algorithm = _pin_algorithm(data, str(data["kty"]), crv, algorithms)
        kid = data.get("kid")
        return cls(private, algorithm.name, kid if isinstance(kid, str) else None)

    @classmethod
    def from_pem(
        cls, pem: bytes, alg: str, kid: str | None = None, password: bytes | None = None
    ) -> SigningKey:
        try:
            private = serialization.load_pem_private_key(pem, password=password)
        except (ValueError, TypeError) as exc:
            raise InvalidKey("not a usable PEM private key") from exc
        if not isinstance(
            private, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
        ):
            raise InvalidKey("unsupported private key type")
        return cls(private, alg, kid)

    def sign(self, data: bytes) -> bytes:
        return self.alg.sign(self._private, data)

    def export_private_jwk(self) -> dict[str, Any]:
        """The PRIVATE JWK. Only for encrypted storage or an HSM import, never for display."""
        jwk = self.public.to_jwk()
        key = self._private
        if isinstance(key, ec.EllipticCurvePrivateKey):
            jwk["d"] = _to_b64_uint(key.private_numbers().private_value, _COORD_BYTES[jwk["crv"]])
        elif isinstance(key, rsa.RSAPrivateKey):
            nums = key.private_numbers()
            for name, value in (
                ("d", nums.d),
                ("p", nums.p),
                ("q", nums.q),
                ("dp", nums.dmp1),
                ("dq", nums.dmq1),
                ("qi", nums.iqmp),
            ):
                jwk[name] = _to_b64_uint(value)
        else:
            raw = key.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
            jwk["d"] = b64url_encode(raw)
        return jwk

    def __repr__(self) -> str:
        return f"SigningKey(alg={self.alg.name!r}, kid={self.kid!r})"


# ------------------------------------------------------------------------ symmetric keys


def _parses_as_public_key(secret: bytes) -> bool:
    """True when ``secret`` is a public key in PEM, DER (SPKI/PKCS#1), OpenSSH or X9.62 form."""
    loaders = (
        serialization.load_pem_public_key,
        serialization.load_der_public_key,
        serialization.load_ssh_public_key,
    )
    for loader in loaders:
        try:
            loader(secret)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
        return True
    if secret[:1] in (b"\x02", b"\x03", b"\x04"):  # SEC 1 §2.3.3 point encodings
        for curve in _CURVES.values():
            try:
                ec.EllipticCurvePublicKey.from_encoded_point(curve, secret)
            except ValueError:
                continue
            return True
    return False


def _check_hmac_secret(secret: bytes) -> None:
    # The per-algorithm minimum (RFC 7518 §3.2) is the algorithm's own check; this is policy.
    stripped = secret.strip().lower()
    if stripped in _WELL_KNOWN_SECRETS:
        raise WeakKey("HMAC key is a well-known secret")
    if len(set(secret)) < 8:
        raise WeakKey("HMAC key has too little variety to be random")
    # A public key in any encoding is the classic HMAC-confusion key (CVE-2016-10555,
    # CVE-2022-29217): whoever knows the public key could forge tokens.
    if b'"kty"' in secret or stripped.startswith((b"-----begin", b"ssh-", b"ecdsa-sha2-")):
        raise WeakKey("HMAC key looks like a public key, not a random secret")
    if _parses_as_public_key(secret):
        raise WeakKey("HMAC key is a public key, not a random secret")


class SymmetricKey:
    """An HMAC (HS256) secret. Signs and verifies; never shares a set with asymmetric keys."""

    __slots__ = ("_secret", "alg", "encoded_headers", "kid", "verify")

    def __init__(self, secret: bytes, alg: str = "HS256", kid: str | None = None) -> None:
        algorithm = ALGORITHMS.get(alg)
        if algorithm is None or not algorithm.symmetric:
            raise InvalidKey("a symmetric key needs an HMAC algorithm")
        if not isinstance(secret, bytes):
            raise InvalidKey("HMAC secrets are raw bytes")
        algorithm.check_private_key(secret)
        _check_hmac_secret(secret)
        self._secret = secret
        self.alg: Algorithm = algorithm
        self.kid: str = (
            kid if kid is not None else thumbprint({"kty": "oct", "k": b64url_encode(secret)})
        )
        self.verify = algorithm.verifier_for(secret)
        self.encoded_headers: dict[str | None, str] = {}

    @classmethod
    def generate(cls, alg: str = "HS256", kid: str | None = None) -> SymmetricKey:
        algorithm = ALGORITHMS.get(alg)
        size = algorithm.min_key_bytes if isinstance(algorithm, HmacAlgorithm) else 32
        return cls(secrets.token_bytes(size), alg, kid)

    @classmethod
    def from_jwk(
        cls, jwk: Mapping[str, Any] | str, *, algorithms: Collection[str] | None = None
    ) -> SymmetricKey:
        """Import an ``oct`` JWK; without ``alg`` it is pinned from ``algorithms``."""
        data = _as_mapping(jwk)
        if data.get("kty") != "oct":
            raise InvalidKey("a symmetric JWK has kty 'oct'")
        _check_members(data, for_signing=False)
        algorithm = _pin_algorithm(data, "oct", None, algorithms)
        kid = data.get("kid")
        return cls(_member(data, "k"), algorithm.name, kid if isinstance(kid, str) else None)

    def sign(self, data: bytes) -> bytes:
        return self.alg.sign(self._secret, data)

    def export_private_jwk(self) -> dict[str, Any]:
        """The secret as a JWK. Only for encrypted storage, never for display."""
        return {
            "kty": "oct",
            "k": b64url_encode(self._secret),
            "kid": self.kid,
            "alg": self.alg.name,
            "use": "sig",
        }

    def __repr__(self) -> str:
        return f"SymmetricKey(alg={self.alg.name!r}, kid={self.kid!r})"


def _as_mapping(jwk: Mapping[str, Any] | str) -> Mapping[str, Any]:
    if isinstance(jwk, str):
        try:
            jwk = json.loads(jwk)
        except ValueError as exc:
            raise InvalidKey("JWK is not valid JSON") from exc
    if not isinstance(jwk, Mapping):
        raise InvalidKey("JWK must be a JSON object")
    return jwk
