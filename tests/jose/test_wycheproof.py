"""Project Wycheproof vectors (../shared/vectors/wycheproof, see its README).

Signature files go through the raw algorithm API; the JOSE files go through key import and
:func:`verify_compact`. Each file is one test that collects every failing ``tcId`` into one
assertion message (thousands of parametrized cases would be slow and noisy).
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives.serialization import load_der_public_key

from shared_data import require_shared
from tessera.errors import (
    AlgorithmNotAllowed,
    InvalidKey,
    InvalidKeySet,
    InvalidSignature,
    MalformedToken,
    TesseraError,
    WeakKey,
)
from tessera.jose import ALGORITHMS, KeySet, SymmetricKey, VerificationKey
from tessera.jose.jws import verify_compact

if TYPE_CHECKING:
    from collections.abc import Iterator


@cache
def _load(name: str) -> dict[str, Any]:
    path = require_shared(f"vectors/wycheproof/{name}")
    return json.loads(path.read_text(encoding="utf-8"))


def _cases(data: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for group in data["testGroups"]:
        for case in group["tests"]:
            yield group, case


def _report(name: str, failures: list[str]) -> str:
    return f"{name}: {len(failures)} case(s) failed:\n" + "\n".join(failures)


# ------------------------------------------------------------------- raw algorithm API

RAW_FILES = [
    ("ecdsa_secp256r1_sha256_p1363_test.json", "ES256"),
    ("ecdsa_secp384r1_sha384_p1363_test.json", "ES384"),
    ("ed25519_test.json", "EdDSA"),
    ("rsa_signature_2048_sha256_test.json", "RS256"),
    ("rsa_pss_2048_sha256_mgf1_32_test.json", "PS256"),
]


@pytest.mark.parametrize(("name", "alg"), RAW_FILES, ids=[alg for _, alg in RAW_FILES])
def test_signature_vectors_through_the_raw_algorithm(name, alg):
    data = _load(name)
    algorithm = ALGORITHMS[alg]
    failures: list[str] = []
    seen = 0
    for group, case in _cases(data):
        seen += 1
        key = load_der_public_key(bytes.fromhex(group["publicKeyDer"]))
        algorithm.check_public_key(key)
        label = f"tcId {case['tcId']} ({case['result']}, {case['comment']!r})"
        try:
            result = algorithm.verify(key, bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"]))
        except InvalidSignature:
            if case["result"] == "valid":
                failures.append(f"{label}: valid signature refused")
        except Exception as exc:  # noqa: BLE001 - any other exception is the failure reported
            failures.append(f"{label}: raised {type(exc).__name__}, not InvalidSignature")
        else:
            if result is not None:
                failures.append(f"{label}: verify returned {result!r}, not None")
            if case["result"] == "invalid":
                failures.append(f"{label}: invalid signature accepted")
    assert seen == data["numberOfTests"]
    assert not failures, _report(name, failures)


# ------------------------------------------------------------------- JWS through the JOSE layer

# vectors/README.md, known data anomalies: 367/370 duplicate the valid 357 but are labelled
# invalid (skipped); 372/373 are labelled valid but their MAC does not cover the bytes sent.
JWS_SKIP = frozenset({367, 370})
JWS_MUST_REJECT = frozenset({372, 373})

# Cases Wycheproof calls valid that Tessera's policy refuses, each with the typed error and
# the rule. Each is paired with a test below showing the vector itself is sound.
JWS_POLICY_REFUSALS: dict[int, tuple[type[TesseraError], str]] = {
    **dict.fromkeys(
        (259, 264, 268, 272, 320, 325),
        (MalformedToken, "empty payload segment; SECURITY.md §3 refuses empty segments"),
    ),
    **dict.fromkeys(
        (346, 350),
        (AlgorithmNotAllowed, "RFC 7520 §4.2 PS384 token under a key pinned to PS256"),
    ),
    **dict.fromkeys(
        (347, 351),
        (InvalidKey, "RFC 7520 §4.3 key labelled alg ES521, which is no JWS algorithm"),
    ),
}
# The "base64" group's HMAC key is 32 zero bytes: SymmetricKey refuses it (WeakKey), so that
# group's parsing cases run against a resolver that skips the key-strength policy only.
WEAK_KEY_GROUP = "base64"


class _UncheckedHmacKey:
    """An HS256 key that bypasses the strength policy, for the all-zero test key only."""

    def __init__(self, secret: bytes) -> None:
        self.alg = ALGORITHMS["HS256"]
        self._secret = secret

    def verify(self, data: bytes, signature: bytes) -> None:
        self.alg.verify(self._secret, data, signature)


class _UncheckedHmacResolver:
    def __init__(self, jwk: dict[str, Any]) -> None:
        self.kid = jwk["kid"]
        self.key = _UncheckedHmacKey(_b64url_decode(jwk["k"]))

    def resolve(self, kid: object, alg: str) -> _UncheckedHmacKey:
        if kid != self.kid or alg != "HS256":
            raise AlgorithmNotAllowed("no such key")
        return self.key


def _b64url_decode(segment: str) -> bytes:
    import base64  # noqa: PLC0415 - only this helper needs it

    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _import_keyset(jwks: dict[str, Any]) -> KeySet:
    """Import a Wycheproof key set the way a deployment would, refusing what Tessera refuses."""
    keys = jwks["keys"]
    symmetric = [k for k in keys if k.get("kty") == "oct"]
    if not symmetric:
        return KeySet.from_jwks(jwks, strict=True)
    if len(symmetric) == len(keys):
        return KeySet.symmetric_set([SymmetricKey.from_jwk(k) for k in keys])
    mixed: list[SymmetricKey | VerificationKey] = [
        SymmetricKey.from_jwk(k) if k.get("kty") == "oct" else VerificationKey.from_jwk(k)
        for k in keys
    ]
    return KeySet(mixed)


def _token_alg(token: str, fallback: str) -> str:
    """The token's own ``alg``: the widest allowlist, so any refusal comes from keys or crypto."""
    try:
        header = json.loads(_b64url_decode(token.split(".", maxsplit=1)[0]))
    except ValueError:
        return fallback
    alg = header.get("alg") if isinstance(header, dict) else None
    return alg if isinstance(alg, str) else fallback


def _jws_outcome(token: str, keys: Any, alg: str) -> tuple[str, Exception | None]:
    """``("accepted", None)``, ``("refused", error)`` or ``("crashed", error)``."""
    try:
        verify_compact(token, keys, algorithms=[alg], typ=None)
    except TesseraError as exc:
        return "refused", exc
    except Exception as exc:  # noqa: BLE001 - anything but a TesseraError is a crash
        return "crashed", exc
    return "accepted", None


def test_json_web_signature_vectors():
    data = _load("json_web_signature_test.json")
    failures: list[str] = []
    checked: set[int] = set()
    for group, case in _cases(data):
        tc_id = case["tcId"]
        if tc_id in JWS_SKIP:
            continue
        checked.add(tc_id)
        label = f"tcId {tc_id} ({case['result']}, {case['comment']!r})"
        jwk = group.get("public") or group["private"]
        token = case["jws"]
        if group["comment"] == WEAK_KEY_GROUP:
            keys: Any = _UncheckedHmacResolver(jwk)
        else:
            try:
                keys = _import_keyset({"keys": [jwk]})
            except TesseraError as exc:
                keys = exc
        must_accept = case["result"] == "valid" and tc_id not in JWS_MUST_REJECT
        expected_error: type[TesseraError] = TesseraError
        if tc_id in JWS_POLICY_REFUSALS:
            must_accept = False
            expected_error = JWS_POLICY_REFUSALS[tc_id][0]

        if isinstance(keys, TesseraError):
            if must_accept:
                failures.append(f"{label}: key import refused: {keys!r}")
            elif not isinstance(keys, expected_error):
                failures.append(f"{label}: refused at import with {keys!r}, not {expected_error}")
            continue
        outcome, error = _jws_outcome(token, keys, _token_alg(token, jwk.get("alg", "HS256")))
        if outcome == "crashed":
            failures.append(f"{label}: crashed with {error!r}")
        elif must_accept and outcome != "accepted":
            failures.append(f"{label}: valid token refused: {error!r}")
        elif not must_accept and outcome == "accepted":
            reason = JWS_POLICY_REFUSALS.get(tc_id, (None, "must be refused"))[1]
            failures.append(f"{label}: accepted, but {reason}")
        elif not must_accept and not isinstance(error, expected_error):
            failures.append(f"{label}: refused with {error!r}, not {expected_error.__name__}")
    assert len(checked) + len(JWS_SKIP) == data["numberOfTests"]
    assert not failures, _report("json_web_signature_test.json", failures)


def _jws_case(tc_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    for group, case in _cases(_load("json_web_signature_test.json")):
        if case["tcId"] == tc_id:
            return group, case
    pytest.fail(f"tcId {tc_id} not in json_web_signature_test.json")


def test_skipped_jws_anomalies_are_copies_of_a_valid_case():
    # The README's reason for skipping 367/370: byte-identical to the valid 357.
    _, valid = _jws_case(357)
    assert valid["result"] == "valid"
    for tc_id in JWS_SKIP:
        _, case = _jws_case(tc_id)
        assert case["jws"] == valid["jws"]
        assert case["result"] == "invalid"


def test_weak_test_key_of_the_base64_group_is_refused_by_symmetric_key():
    group, _ = _jws_case(357)
    assert group["comment"] == WEAK_KEY_GROUP
    with pytest.raises(WeakKey):
        SymmetricKey.from_jwk(group["private"])


@pytest.mark.parametrize("tc_id", [346, 350])
def test_rfc7520_ps384_case_verifies_once_the_key_is_pinned_to_ps384(tc_id):
    group, case = _jws_case(tc_id)
    jwk = {**group["public"], "alg": "PS384"}
    keys = KeySet.from_jwks({"keys": [jwk]}, strict=True)
    verify_compact(case["jws"], keys, algorithms=["PS384"], typ=None)


@pytest.mark.parametrize("tc_id", [347, 351])
def test_rfc7520_es512_case_verifies_once_the_key_alg_is_es512(tc_id):
    group, case = _jws_case(tc_id)
    assert group["public"]["alg"] == "ES521"
    with pytest.raises(InvalidKeySet):
        KeySet.from_jwks({"keys": [group["public"]]}, strict=True)
    keys = KeySet.from_jwks({"keys": [{**group["public"], "alg": "ES512"}]}, strict=True)
    verify_compact(case["jws"], keys, algorithms=["ES512"], typ=None)


@pytest.mark.parametrize("tc_id", [259, 264, 268, 272, 320, 325])
def test_empty_payload_case_carries_a_genuine_signature(tc_id):
    # Refused by policy (empty segment), yet the signature over "header." is correct.
    group, case = _jws_case(tc_id)
    header_b64, payload_b64, signature_b64 = case["jws"].split(".")
    assert payload_b64 == ""
    keys = KeySet.from_jwks({"keys": [group["public"]]}, strict=True)
    key = keys.resolve(json.loads(_b64url_decode(header_b64))["kid"], group["public"]["alg"])
    key.verify(f"{header_b64}.".encode(), _b64url_decode(signature_b64))


# ------------------------------------------------------------------- JWK and key sets

# The only invalid case whose keys are sound: its flaw is the signature.
JWK_REFUSED_BY_SIGNATURE = frozenset({3})


def test_json_web_key_vectors():
    data = _load("json_web_key_test.json")
    failures: list[str] = []
    seen = 0
    for group, case in _cases(data):
        seen += 1
        tc_id = case["tcId"]
        label = f"tcId {tc_id} ({case['result']}, {group['comment']!r}/{case['comment']!r})"
        jwks = group.get("public") or group["private"]
        token = case["jws"]
        try:
            keys = _import_keyset(jwks)
        except TesseraError as exc:
            if case["result"] == "valid":
                failures.append(f"{label}: key set refused: {exc!r}")
            continue
        except Exception as exc:  # noqa: BLE001 - anything but a TesseraError is a crash
            failures.append(f"{label}: key import crashed with {exc!r}")
            continue
        kids = {k.get("kid") for k in jwks["keys"]}
        imported = kids <= keys.kids
        if case["result"] == "invalid" and tc_id not in JWK_REFUSED_BY_SIGNATURE and imported:
            failures.append(f"{label}: bad key imported (kids {sorted(keys.kids)})")
        outcome, error = _jws_outcome(token, keys, _token_alg(token, "HS256"))
        if outcome == "crashed":
            failures.append(f"{label}: crashed with {error!r}")
        elif case["result"] == "valid" and outcome != "accepted":
            failures.append(f"{label}: valid token refused: {error!r}")
        elif case["result"] == "invalid" and outcome == "accepted":
            failures.append(f"{label}: invalid token accepted")
    assert seen == data["numberOfTests"]
    assert not failures, _report("json_web_key_test.json", failures)


def _jwk_group(comment: str) -> dict[str, Any]:
    for group in _load("json_web_key_test.json")["testGroups"]:
        if group["comment"] == comment:
            return group
    pytest.fail(f"group {comment!r} not in json_web_key_test.json")


def test_mixed_symmetric_and_asymmetric_set_is_refused_at_construction():
    keys = _jwk_group("jws_mixedSymmetryKeyset")["private"]["keys"]
    oct_jwk = next(k for k in keys if k["kty"] == "oct")
    ec_jwk = next(k for k in keys if k["kty"] == "EC")
    symmetric, asymmetric = SymmetricKey.from_jwk(oct_jwk), VerificationKey.from_jwk(ec_jwk)
    with pytest.raises(InvalidKeySet):
        KeySet([symmetric, asymmetric])
    with pytest.raises(InvalidKeySet):
        KeySet.from_jwks({"keys": keys}, strict=True)


def test_duplicate_kid_is_refused_at_construction():
    # Wycheproof's duplicate-kid set is already refused for its second key's non-canonical
    # base64url "k"; two sound keys sharing one kid isolate the duplicate-kid rule.
    first, second = _jwk_group("jws_keyset")["private"]["keys"]
    duplicate = {**second, "kid": first["kid"]}
    with pytest.raises(InvalidKeySet):
        KeySet.symmetric_set([SymmetricKey.from_jwk(first), SymmetricKey.from_jwk(duplicate)])
    rsa = _jwk_group("rs256")["public"]["keys"][0]
    ec = next(k for k in _jwk_group("jws_mixedSymmetryKeyset")["private"]["keys"] if "crv" in k)
    ec_same_kid = {**ec, "kid": rsa["kid"]}
    VerificationKey.from_jwk(ec_same_kid)  # sound on its own
    with pytest.raises(InvalidKeySet):
        KeySet.from_jwks({"keys": [rsa, ec_same_kid]}, strict=True)
    with pytest.raises(InvalidKeySet):
        KeySet([VerificationKey.from_jwk(rsa), VerificationKey.from_jwk(ec_same_kid)])
    # A fetched JWKS (strict=False) keeps neither key: the kid is ambiguous.
    assert rsa["kid"] not in KeySet.from_jwks({"keys": [rsa, ec_same_kid]}, strict=False)


def test_wycheproof_duplicate_kid_set_is_refused():
    with pytest.raises(TesseraError):
        _import_keyset(_jwk_group("jws_duplicate_kid")["private"])


@pytest.mark.parametrize("comment", ["invalid_use"])
def test_encryption_key_never_enters_a_signing_set(comment):
    group = _jwk_group(comment)
    keys = KeySet.from_jwks(group["public"], strict=True)
    assert len(keys) == 0
    assert keys.rejected
