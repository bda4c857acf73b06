"""JWK and JWKS import/export (RFC 7517, RFC 7518 §6, RFC 8037, RFC 7638); SECURITY.md §5.

Each key is bound to one ``alg`` and ``use: sig``; private members never leave through the
public path; bad members of a received JWKS are refused (strict) or dropped (lenient).
"""

from __future__ import annotations

import json

import pytest
from _atk import ASYMMETRIC_ALGS, rsa_private, signing_key
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tessera.errors import InvalidKey, InvalidKeySet, InvalidSignature, WeakKey
from tessera.jose import KeySet, SigningKey, SymmetricKey, VerificationKey, thumbprint
from tessera.jose.b64 import b64url_decode, b64url_encode

PRIVATE = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
DATA = b"signing input"


def _key(alg: str) -> SigningKey:
    key = signing_key(alg)
    assert isinstance(key, SigningKey)
    return key


def _public_jwk(alg: str) -> dict:
    return _key(alg).public.to_jwk()


def _without_alg(jwk: dict) -> dict:
    return {name: value for name, value in jwk.items() if name != "alg"}


# --------------------------------------------------------------------- round trips


@pytest.mark.parametrize("alg", ASYMMETRIC_ALGS)
def test_public_jwk_round_trip(alg):
    """RFC 7517 §4: export the public JWK, import it, verify the key's own signature."""
    key = _key(alg)
    jwk = key.public.to_jwk()
    assert jwk["alg"] == alg
    assert jwk["use"] == "sig"
    assert jwk["kid"] == key.kid
    assert not set(PRIVATE) & jwk.keys()
    for source in (jwk, json.dumps(jwk)):
        imported = VerificationKey.from_jwk(source)
        assert imported.alg.name == alg
        assert imported.kid == key.kid
        assert imported.to_jwk() == jwk
        assert imported.thumbprint() == key.public.thumbprint()
        imported.verify(DATA, key.sign(DATA))
        with pytest.raises(InvalidSignature):
            imported.verify(DATA + b"!", key.sign(DATA))


@pytest.mark.parametrize("alg", ASYMMETRIC_ALGS)
def test_private_jwk_round_trip(alg):
    """export_private_jwk → SigningKey.from_jwk gives the same key, the same kid and alg."""
    key = _key(alg)
    private_jwk = key.export_private_jwk()
    assert "d" in private_jwk
    restored = SigningKey.from_jwk(private_jwk)
    assert restored.kid == key.kid
    assert restored.alg.name == alg
    assert restored.public.to_jwk() == key.public.to_jwk()
    key.public.verify(DATA, restored.sign(DATA))
    restored.public.verify(DATA, key.sign(DATA))


def test_rsa_private_jwk_without_crt_members_is_recovered():
    """RFC 7518 §6.3.2: p, q, dp, dq, qi are optional; they are recomputed from n, e, d."""
    key = _key("RS256")
    jwk = {
        n: v for n, v in key.export_private_jwk().items() if n not in ("p", "q", "dp", "dq", "qi")
    }
    restored = SigningKey.from_jwk(jwk)
    key.public.verify(DATA, restored.sign(DATA))
    assert restored.export_private_jwk() == key.export_private_jwk()


@pytest.mark.parametrize("alg", ASYMMETRIC_ALGS)
def test_key_reprs_show_no_key_material(alg):
    """STYLE §5: nothing secret in repr (a key can end up in a log line)."""
    key = _key(alg)
    for text in (repr(key), repr(key.public), str(key)):
        for name, value in key.export_private_jwk().items():
            if name in PRIVATE or name in ("x", "y", "n"):
                assert value not in text


def test_symmetric_key_repr_and_public_refusal():
    secret = SymmetricKey.generate()
    assert b64url_encode(secret._secret) not in repr(secret)
    with pytest.raises(InvalidKeySet):
        KeySet.symmetric_set([secret]).to_jwks()


# ----------------------------------------------------------- private members refused


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_private_jwk_refused_as_public(alg):
    """§5 "A received JWKS with … private keys: the bad keys are refused"."""
    with pytest.raises(InvalidKey):
        VerificationKey.from_jwk(_key(alg).export_private_jwk())


@pytest.mark.parametrize("member", PRIVATE)
def test_any_private_member_refused_in_a_public_jwk(member):
    """§5: each private member alone (whatever its value) makes a public import fail."""
    for value in ("AQAB", "", None):
        jwk = {**_public_jwk("RS256"), member: value}
        with pytest.raises(InvalidKey):
            VerificationKey.from_jwk(jwk)


@pytest.mark.parametrize("alg", ASYMMETRIC_ALGS)
def test_exported_public_jwk_has_no_private_members(alg):
    """§5 published JWKS: no `d p q dp dq qi k`, `use: sig`, explicit `alg`, a `kid`."""
    jwk = _public_jwk(alg)
    assert not {"d", "p", "q", "dp", "dq", "qi", "k", "oth"} & jwk.keys()
    assert {"kid", "alg", "use"} <= jwk.keys()
    assert jwk["use"] == "sig"


def test_private_export_is_refused_for_verification_keys():
    """pyca-style hard to misuse: a VerificationKey has no private export at all."""
    assert not hasattr(_key("ES256").public, "export_private_jwk")


# ------------------------------------------------------------------- alg inference


def test_rsa_without_alg_is_ambiguous_unless_one_algorithm_fits():
    """RFC 8725 §3.1: a key is bound to ONE algorithm; RSA fits six, so it must be pinned."""
    jwk = _without_alg(_public_jwk("RS256"))
    for algorithms in (None, ["RS256", "PS256"], ["RS256", "RS384"], ["ES256"]):
        with pytest.raises(InvalidKey):
            VerificationKey.from_jwk(jwk, algorithms=algorithms)
    assert VerificationKey.from_jwk(jwk, algorithms=["RS256"]).alg.name == "RS256"
    assert VerificationKey.from_jwk(jwk, algorithms=["PS384", "ES256"]).alg.name == "PS384"


def test_ec_without_alg_is_pinned_by_its_curve():
    jwk = _without_alg(_public_jwk("ES256"))
    assert VerificationKey.from_jwk(jwk).alg.name == "ES256"
    assert VerificationKey.from_jwk(jwk, algorithms=["ES256", "ES384"]).alg.name == "ES256"
    with pytest.raises(InvalidKey):
        VerificationKey.from_jwk(jwk, algorithms=["ES384", "RS256"])


def test_okp_without_alg_is_ambiguous_between_eddsa_names():
    """RFC 8037 `EdDSA` and RFC 9864 `Ed25519` both fit an Ed25519 key."""
    jwk = _without_alg(_public_jwk("EdDSA"))
    with pytest.raises(InvalidKey):
        VerificationKey.from_jwk(jwk)
    assert VerificationKey.from_jwk(jwk, algorithms=["EdDSA"]).alg.name == "EdDSA"
    assert VerificationKey.from_jwk(jwk, algorithms=["Ed25519", "ES256"]).alg.name == "Ed25519"


@pytest.mark.parametrize(
    ("alg", "claimed"),
    [
        ("ES256", "ES384"),
        ("ES384", "ES256"),
        ("ES256", "RS256"),
        ("RS256", "ES256"),
        ("RS256", "HS256"),
        ("EdDSA", "ES256"),
        ("RS256", "rs256"),
        ("RS256", "none"),
        ("ES256", ""),
        ("ES256", 256),
    ],
)
def test_jwk_alg_must_fit_the_key_type_and_curve(alg, claimed):
    """§5 "curve/alg mismatch: the bad keys are refused" [RFC 7518 §6, RFC 8725 §3.1]."""
    with pytest.raises(InvalidKey):
        VerificationKey.from_jwk({**_public_jwk(alg), "alg": claimed})


def test_jwk_alg_outside_the_allowlist_is_refused():
    with pytest.raises(InvalidKey):
        VerificationKey.from_jwk(_public_jwk("RS256"), algorithms=["PS256"])


@pytest.mark.parametrize(
    "change",
    [
        {"use": "enc"},
        {"use": ""},
        {"key_ops": ["encrypt"]},
        {"key_ops": ["sign"]},
        {"key_ops": "verify"},
        {"kid": ""},
        {"kid": 7},
        {"x5c": ["MIIB"]},
        {"x5u": "https://evil.example/cert"},
    ],
    ids=repr,
)
def test_jwk_metadata_is_enforced(change):
    """RFC 7517 §4.2–4.3: `use` must be sig, `key_ops` must allow verify; no certificates."""
    with pytest.raises(InvalidKey):
        VerificationKey.from_jwk({**_public_jwk("ES256"), **change})


def test_key_ops_allowing_verify_is_accepted():
    jwk = {**_public_jwk("ES256"), "key_ops": ["verify"]}
    assert VerificationKey.from_jwk(jwk).alg.name == "ES256"


# -------------------------------------------------------------------- EC validity


def _coordinate(jwk: dict, name: str) -> bytes:
    return b64url_decode(jwk[name])


@pytest.mark.parametrize("member", ["x", "y"])
@pytest.mark.parametrize(
    "resize",
    [lambda raw: raw[1:], lambda raw: b"\x00" + raw, lambda raw: raw + b"\x00", lambda _raw: b""],
    ids=["short", "leading-zero", "trailing-zero", "empty"],
)
def test_ec_coordinate_of_wrong_length_is_refused(member, resize):
    """RFC 7518 §6.2.1.2–3: x and y are the full coordinate length for the curve."""
    jwk = _public_jwk("ES256")
    jwk[member] = b64url_encode(resize(_coordinate(jwk, member)))
    with pytest.raises(InvalidKey):
        VerificationKey.from_jwk(jwk)


def test_ec_coordinates_of_another_curve_are_refused():
    jwk = {**_public_jwk("ES256"), "crv": "P-384", "alg": "ES384"}
    with pytest.raises(InvalidKey):
        VerificationKey.from_jwk(jwk)


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_ec_point_not_on_the_curve_is_refused(alg):
    """§5 "bad EC points … are refused" (invalid-curve attacks)."""
    jwk = _public_jwk(alg)
    size = len(_coordinate(jwk, "y"))
    y = int.from_bytes(_coordinate(jwk, "y"), "big")
    for bad_y in (y ^ 1, 0):
        with pytest.raises(InvalidKey):
            VerificationKey.from_jwk({**jwk, "y": b64url_encode(bad_y.to_bytes(size, "big"))})
    zero = b64url_encode(bytes(size))
    with pytest.raises(InvalidKey):
        VerificationKey.from_jwk({**jwk, "x": zero, "y": zero})


@pytest.mark.parametrize("crv", ["P-192", "secp256k1", "p-256", "", None])
def test_unsupported_ec_curve_is_refused(crv):
    with pytest.raises(InvalidKey):
        VerificationKey.from_jwk({**_public_jwk("ES256"), "crv": crv})


@pytest.mark.parametrize(
    "change",
    [{"x": None}, {"x": 1}, {"x": "AAAA="}, {"x": "AA+A"}, {"kty": "ec"}, {"kty": "oct"}],
    ids=repr,
)
def test_malformed_ec_members_are_refused(change):
    with pytest.raises(InvalidKey):
        VerificationKey.from_jwk({**_public_jwk("ES256"), **change})


@pytest.mark.parametrize(
    "change",
    [
        {"x": b64url_encode(bytes(31))},
        {"x": b64url_encode(bytes(33))},
        {"crv": "X25519"},
        {"crv": "Ed448"},
        {"crv": None},
    ],
    ids=repr,
)
def test_malformed_okp_members_are_refused(change):
    """RFC 8037 §2: Ed25519 only, with a 32-byte x."""
    with pytest.raises(InvalidKey):
        VerificationKey.from_jwk({**_public_jwk("EdDSA"), **change})


# ------------------------------------------------------------------- RSA strength


@pytest.fixture(scope="module")
def atk_rsa_1024() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the weak key under test


def test_rsa_1024_is_weak_everywhere(atk_rsa_1024):
    """§5 "RSA < 2048 … refused" [RFC 7518 §3.3]: JWK, key object, PEM, private key."""
    public = atk_rsa_1024.public_key()
    numbers = public.public_numbers()
    jwk = {
        "kty": "RSA",
        "n": b64url_encode(numbers.n.to_bytes(128, "big")),
        "e": "AQAB",
        "alg": "RS256",
    }
    with pytest.raises(WeakKey):
        VerificationKey.from_jwk(jwk)
    with pytest.raises(WeakKey):
        VerificationKey(public, "RS256")
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(WeakKey):
        VerificationKey.from_pem(pem, "PS256")
    with pytest.raises(WeakKey):
        SigningKey(atk_rsa_1024, "RS256")


@pytest.mark.parametrize("e", [b"\x01", b"\x02", b"\x01\x00\x00"], ids=["1", "2", "even"])
def test_rsa_bad_public_exponent_is_weak(e):
    jwk = {**_public_jwk("RS256"), "e": b64url_encode(e)}
    with pytest.raises(WeakKey):
        VerificationKey.from_jwk(jwk)


# -------------------------------------------------------- private/public mismatch


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_private_jwk_whose_d_belongs_to_another_key_is_refused(alg):
    """A private JWK must be self-consistent: d of another key over these public members."""
    mine = _key(alg).export_private_jwk()
    if alg == "RS256":
        other = SigningKey.generate("RS256").export_private_jwk()
        crt_less = {n: v for n, v in mine.items() if n not in ("p", "q", "dp", "dq", "qi")}
        for forged in ({**mine, "d": other["d"]}, {**crt_less, "d": other["d"]}):
            with pytest.raises(InvalidKey):
                SigningKey.from_jwk(forged)
        return
    other = SigningKey.generate(alg).export_private_jwk()
    with pytest.raises(InvalidKey):
        SigningKey.from_jwk({**mine, "d": other["d"]})


def test_multi_prime_rsa_is_refused():
    jwk = {**_key("RS256").export_private_jwk(), "oth": [{"r": "AQAB", "d": "AQAB", "t": "AQAB"}]}
    with pytest.raises(InvalidKey):
        SigningKey.from_jwk(jwk)


def test_signing_key_types_are_checked():
    with pytest.raises(InvalidKey):
        SigningKey(ec.generate_private_key(ec.SECP384R1()), "ES256")
    with pytest.raises(InvalidKey):
        SigningKey(ed25519.Ed25519PrivateKey.generate(), "ES256")
    with pytest.raises(InvalidKey):
        SigningKey(rsa_private(), "HS256")
    with pytest.raises(InvalidKey):
        SigningKey.generate("none")


# --------------------------------------------------------------------------- KeySet


def _jwks(*members: dict) -> dict:
    return {"keys": list(members)}


def test_key_set_refuses_a_repeated_kid():
    """§5 "no duplicate kid" [RFC 7517 §4.5: kids distinguish keys within a set]."""
    a = _key("ES256").public
    twin = VerificationKey(_key("ES384").public.public_key, "ES384", kid=a.kid)
    with pytest.raises(InvalidKeySet):
        KeySet([a, twin])
    with pytest.raises(InvalidKeySet):
        KeySet.from_jwks(_jwks(a.to_jwk(), twin.to_jwk()))
    with pytest.raises(InvalidKeySet):
        KeySet.from_jwks(_jwks(a.to_jwk(), a.to_jwk()))


def test_lenient_import_drops_bad_members_and_keeps_good_ones(atk_rsa_1024):
    """§5 "A received JWKS with duplicate kids, private keys, RSA < 2048, bad EC points or
    curve/alg mismatch: the bad keys are refused" — and the good ones stay usable.
    """
    good = [_public_jwk("ES256"), _public_jwk("RS256"), _public_jwk("EdDSA")]
    dup = _public_jwk("ES384")
    bad_point = {**_public_jwk("ES512"), "kid": "bad-point"}
    bad_point["y"] = b64url_encode(bytes(66))
    weak = {
        "kty": "RSA",
        "kid": "weak",
        "alg": "RS256",
        "n": b64url_encode(atk_rsa_1024.public_key().public_numbers().n.to_bytes(128, "big")),
        "e": "AQAB",
    }
    bad = [
        dup,
        {**dup},
        {**_key("PS256").export_private_jwk(), "kid": "private"},
        weak,
        bad_point,
        {**_public_jwk("ES256"), "kid": "mismatch", "alg": "ES384"},
        {"kty": "oct", "k": b64url_encode(bytes(range(32))), "kid": "hmac"},
        "not an object",
        {"kty": "RSA", "kid": "garbage"},
    ]
    encryption = {**_public_jwk("ES256"), "kid": "enc-key", "use": "enc"}
    document = _jwks(*good[:2], *bad, encryption, good[2])
    with pytest.raises(InvalidKeySet):
        KeySet.from_jwks(document)
    lenient = KeySet.from_jwks(document, strict=False)
    assert lenient.kids == {jwk["kid"] for jwk in good}
    assert len(lenient.rejected) == len(bad) + 1  # + the encryption key
    for jwk in good:
        key = lenient.get(jwk["kid"])
        assert key is not None
        key.verify(DATA, signing_key(jwk["alg"]).sign(DATA))
    for reason in lenient.rejected:  # reasons are labels and rules, never key material
        assert weak["n"] not in reason
        assert "AQAB" not in reason


def test_lenient_import_from_json_text():
    text = json.dumps(_jwks(_public_jwk("ES256"), {"kty": "EC", "kid": "broken"}))
    lenient = KeySet.from_jwks(text, strict=False)
    assert lenient.kids == {_key("ES256").kid}
    assert len(lenient.rejected) == 1


@pytest.mark.parametrize(
    "document",
    ["not json", "[]", b"{", {"keys": "x"}, {"keys": None}, {}, {"keys": {"kid": "a"}}, 5],
    ids=repr,
)
def test_malformed_jwks_documents_are_refused(document):
    with pytest.raises(InvalidKeySet):
        KeySet.from_jwks(document)


def test_published_jwks_is_public_unique_signing_and_explicit():
    """§5 "Published JWKS: no private members, no duplicate kid, use: sig, explicit alg"."""
    keys = KeySet(_key(alg).public for alg in ASYMMETRIC_ALGS)
    document = keys.to_jwks()
    members = document["keys"]
    assert len(members) == len(ASYMMETRIC_ALGS)
    kids = [jwk["kid"] for jwk in members]
    assert len(set(kids)) == len(kids)
    for jwk in members:
        assert not {"d", "p", "q", "dp", "dq", "qi", "k", "oth"} & jwk.keys()
        assert jwk["use"] == "sig"
        assert jwk["alg"] in ASYMMETRIC_ALGS
        assert jwk["kid"]
    text = json.dumps(document)
    for alg in ASYMMETRIC_ALGS:
        assert _key(alg).export_private_jwk()["d"] not in text
    again = KeySet.from_jwks(text)
    assert again.kids == keys.kids
    assert again.to_jwks() == document


def test_default_kid_is_the_rfc7638_thumbprint():
    """RFC 7638 §3: without an explicit kid, the kid is the JWK SHA-256 thumbprint."""
    key = SigningKey.generate("ES256")
    members = {n: key.public.to_jwk()[n] for n in ("kty", "crv", "x", "y")}
    assert key.kid == thumbprint(members) == key.public.thumbprint()
    assert len(b64url_decode(key.kid)) == 32


def test_jwks_kidless_duplicates_are_refused_not_fatal_when_lenient():
    """Two kid-less members that are the same key share a thumbprint kid: ambiguous.

    Lenient import drops both into `rejected` (and keeps the other keys); strict refuses.
    """
    dup = SigningKey.generate("ES256").public.to_jwk()
    del dup["kid"]
    other = SigningKey.generate("ES256").public.to_jwk()
    doc = {"keys": [dup, dict(dup), other]}
    lenient = KeySet.from_jwks(doc, strict=False)
    assert lenient.kids == {other["kid"]}
    assert len(lenient.rejected) == 2
    assert all("repeats this kid" in r for r in lenient.rejected)
    with pytest.raises(InvalidKeySet):
        KeySet.from_jwks(doc)
