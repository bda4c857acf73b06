"""SECURITY.md §2 — header parameters, attacked through the Verifier.

Sources: RFC 7515 §4.1 (§4.1.9 typ, §4.1.11 crit), RFC 7797 §3 (b64), RFC 7516 §4.1.3 (zip),
RFC 8725 §3.1, §3.10, §3.11, RFC 9068 §4 (at+jwt), CVE-2018-0114 (embedded jwk).
"""

from __future__ import annotations

import http.server
import json
import secrets
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
from _atk import (
    ABSENT,
    NOW,
    header,
    key_set,
    make_token,
    refuse,
    signing_key,
    verifier,
)

from tessera.errors import (
    AlgorithmNotAllowed,
    ForbiddenHeader,
    InvalidType,
    UnknownKey,
    UnsupportedCritical,
)
from tessera.jose import KeySet, SigningKey
from tessera.jose.b64 import b64url_encode

# ------------------------------------------------------------ a listener that counts


class _Listener(http.server.HTTPServer):
    requests: list[str]


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server = self.server
        assert isinstance(server, _Listener)
        server.requests.append(self.path)
        attacker = signing_key("ES384")  # any key the verifier does not trust
        body = json.dumps({"keys": [attacker.public.to_jwk()]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture
def atk_listener() -> Iterator[_Listener]:
    """A real HTTP server on 127.0.0.1 that records every request it receives."""
    server = _Listener(("127.0.0.1", 0), _CountingHandler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _url(server: _Listener, path: str) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}{path}"


def _prove_listener_works(server: _Listener, url: str) -> None:
    """The 0-request assertions mean something only if the listener does answer."""
    before = len(server.requests)
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback test URL
        assert response.status == 200
    assert len(server.requests) == before + 1


# ------------------------------------------------------- jwk, jku, x5u, x5c (rule 3)


@pytest.mark.parametrize("param", ["jku", "x5u"])
def test_url_headers_are_refused_and_never_fetched(param, atk_listener):
    """§2 `jku`/`x5u` present → 401, and the listener they name receives 0 requests.

    Signed by the TRUSTED key: only the forbidden-header rule stands between it and success.
    [RFC 8725 §3.10]
    """
    url = _url(atk_listener, f"/{param}/jwks.json")
    key = signing_key("ES256")
    token = make_token(key, hdr=header(key, **{param: url}))
    refuse(verifier("ES256"), token, ForbiddenHeader, url)
    time.sleep(0.05)  # give a stray background fetch the chance to arrive
    assert atk_listener.requests == []
    _prove_listener_works(atk_listener, url)


@pytest.mark.parametrize("param", ["jku", "x5u"])
def test_url_headers_with_an_attacker_key_are_never_fetched(param, atk_listener):
    """§2 the classic attack: attacker-signed, kid of the attacker's key at an attacker URL."""
    url = _url(atk_listener, "/attacker/jwks.json")
    attacker = signing_key("ES384")
    hdr = {"alg": "ES256", "typ": "at+jwt", "kid": attacker.kid, param: url}
    token = make_token(attacker, hdr=hdr)
    refuse(verifier("ES256"), token, ForbiddenHeader, url)
    assert atk_listener.requests == []


def test_embedded_jwk_is_refused():
    """§2 `jwk` present → 401; signed by the trusted key, embedding its own public JWK."""
    key = signing_key("ES256")
    assert isinstance(key, SigningKey)
    token = make_token(key, hdr=header(key, jwk=key.public.to_jwk()))
    refuse(verifier("ES256"), token, ForbiddenHeader)


def test_embedded_attacker_jwk_is_refused():
    """§2 [CVE-2018-0114]: the attacker signs with their own key and embeds it as `jwk`."""
    attacker = SigningKey.generate("ES256", kid="attacker")
    hdr = header(attacker, jwk=attacker.public.to_jwk(), kid=ABSENT)
    refuse(verifier("ES256"), make_token(attacker, hdr=hdr), ForbiddenHeader)


def test_x5c_is_refused():
    """§2 `x5c` present → 401 (a certificate chain in a token is never trusted)."""
    key = signing_key("ES256")
    chain = [b64url_encode(b"\x30\x82" + secrets.token_bytes(300))]
    token = make_token(key, hdr=header(key, x5c=chain))
    refuse(verifier("ES256"), token, ForbiddenHeader)


@pytest.mark.parametrize("value", [None, "", [], {}, 0])
@pytest.mark.parametrize("param", ["jwk", "jku", "x5u", "x5c"])
def test_forbidden_headers_refused_whatever_their_value(param, value):
    """§2: presence alone is refused, not only a well-formed value."""
    key = signing_key("ES256")
    token = make_token(key, hdr=header(key, **{param: value}))
    refuse(verifier("ES256"), token, ForbiddenHeader)


# ------------------------------------------------------------------------------ kid


HOSTILE_KIDS = ["", "../../dev/null", "|sleep 10", "x' UNION SELECT '1';--", "/etc/passwd"]


@pytest.mark.parametrize("kid", HOSTILE_KIDS)
def test_hostile_string_kids_are_unknown(kid):
    """§2 `kid` = "", path traversal, shell and SQL injection → 401 (a lookup only)."""
    key = signing_key("ES256")
    token = make_token(key, hdr=header(key, kid=kid))
    started = time.perf_counter()
    refuse(verifier("ES256"), token, UnknownKey, *(k for k in [kid] if len(k) > 4))
    assert time.perf_counter() - started < 0.5  # `|sleep 10` ran nowhere


@pytest.mark.parametrize(
    "kid",
    [0, 1, 1.5, True, False, ["atk-ES256"], {"kid": "atk-ES256"}],
    ids=["zero", "int", "float", "true", "false", "list", "object"],
)
def test_non_string_kids_are_refused(kid):
    """§2 `kid` a non-string → 401 (RFC 7515 §4.1.4: kid is a string)."""
    key = signing_key("ES256")
    token = make_token(key, hdr=header(key, kid=kid))
    refuse(verifier("ES256"), token, UnknownKey)


def test_null_kid_is_refused_like_any_non_string_kid():
    """§2 `kid` a non-string → 401. JSON `null` is a non-string value, not an absent kid.

    Python's ``dict.get("kid")`` cannot tell ``"kid": null`` from no kid; a verifier that
    conflates them accepts a header the RFC says is malformed (RFC 7515 §4.1.4).
    """
    key = signing_key("ES256")
    token = make_token(key, hdr=header(key, kid=None))
    refuse(verifier("ES256"), token, UnknownKey)


def test_absent_kid_selects_the_single_key_of_that_alg():
    """Control for the kid tests: no kid and exactly one trusted key of the alg → verifies."""
    key = signing_key("ES256")
    token = make_token(key, hdr=header(key, kid=ABSENT))
    assert verifier("ES256").verify(token, now=NOW)["sub"] == "user-1"


def test_absent_kid_is_ambiguous_with_several_keys():
    """§2 kid only selects among trusted keys; with two ES256 keys a kid-less token is refused."""
    key = signing_key("ES256")
    other = SigningKey.generate("ES256", kid="other-es256")
    keys = KeySet([key.public, other.public])  # type: ignore[union-attr]
    token = make_token(key, hdr=header(key, kid=ABSENT))
    refuse(verifier("ES256", keys=keys), token, UnknownKey)


def test_kid_variants_of_a_trusted_kid_are_unknown():
    """§2 kid is an exact lookup: case, whitespace and NUL variants select nothing."""
    key = signing_key("ES256")
    for kid in (key.kid.upper(), f" {key.kid}", f"{key.kid} ", f"{key.kid}\x00", key.kid[:-1]):
        refuse(verifier("ES256"), make_token(key, hdr=header(key, kid=kid)), UnknownKey)


def test_a_thousand_random_unknown_kids_are_refused_fast():
    """§2 1000 random unknown kids → 401 each, in well under a second overall."""
    key = signing_key("ES256")
    v = verifier("ES256")
    kids = [secrets.token_urlsafe(secrets.randbelow(40) + 1) for _ in range(1000)]
    kids += HOSTILE_KIDS
    tokens = [make_token(key, hdr=header(key, kid=kid)) for kid in kids if kid != key.kid]
    refused = 0
    started = time.perf_counter()
    for token in tokens:
        try:
            v.verify(token, now=NOW)
        except UnknownKey:
            refused += 1
    elapsed = time.perf_counter() - started
    assert refused == len(tokens) >= 1000
    assert elapsed < 0.5, f"1000 unknown kids took {elapsed:.3f} s"


# ----------------------------------------------------------------- crit, b64, zip


@pytest.mark.parametrize(
    "extra",
    [
        {"crit": ["exp"], "exp": NOW + 300},
        {"crit": ["https://example.com/ext"], "https://example.com/ext": True},
        {"crit": ["not-present"]},
        {"crit": []},
        {"crit": "exp", "exp": NOW + 300},
        {"crit": None},
        {"crit": {"exp": True}},
        {"crit": [1]},
        {"crit": ["exp", "exp"], "exp": NOW + 300},
        {"crit": ["alg"]},
        {"crit": ["kid"]},
        {"crit": ["typ"]},
    ],
    ids=[
        "unknown",
        "unknown-uri",
        "unknown-absent",
        "empty",
        "string",
        "null",
        "object",
        "non-string-entry",
        "duplicated",
        "registered-alg",
        "registered-kid",
        "registered-typ",
    ],
)
def test_crit_is_refused(extra):
    """§2 `crit` unknown, empty, not an array, duplicated, naming a registered header → 401.

    [RFC 7515 §4.1.11: recipients MUST reject what they do not understand]
    """
    key = signing_key("ES256")
    token = make_token(key, hdr=header(key, **extra))
    refuse(verifier("ES256"), token, UnsupportedCritical)


@pytest.mark.parametrize(
    "extra",
    [{"b64": False, "crit": ["b64"]}, {"b64": False}],
    ids=["with-crit", "without-crit"],
)
def test_unencoded_payload_b64_false_is_refused(extra):
    """§2 `b64: false` → 401 [RFC 7797 §3]."""
    key = signing_key("ES256")
    token = make_token(key, hdr=header(key, **extra))
    refuse(verifier("ES256"), token, UnsupportedCritical)


@pytest.mark.parametrize("zip_value", ["DEF", "def", "", None])
def test_zip_in_a_jws_is_refused(zip_value):
    """§2 `zip` in a JWS → 401 [RFC 7516 §4.1.3 defines it for JWE only; RFC 8725 §3.6]."""
    key = signing_key("ES256")
    token = make_token(key, hdr=header(key, zip=zip_value))
    refuse(verifier("ES256"), token, UnsupportedCritical)


# ------------------------------------------------------------------------------ typ


@pytest.mark.parametrize(
    "typ",
    [
        "JWT",
        "jwt",
        "application/jwt",
        "dpop+jwt",
        "application/dpop+jwt",
        "at+jwt ",
        " at+jwt",
        "at+jwt\x00",
        "at-jwt",
        "application/application/at+jwt",
        "",
        1,
        None,
        ["at+jwt"],
        ABSENT,
    ],
    ids=[
        "JWT",
        "jwt",
        "application-jwt",
        "dpop",
        "application-dpop",
        "trailing-space",
        "leading-space",
        "nul",
        "dash",
        "double-prefix",
        "empty",
        "int",
        "null",
        "list",
        "missing (id token)",
    ],
)
def test_typ_other_than_at_jwt_is_refused(typ):
    """§2 `typ` other than at+jwt (an ID token, a DPoP proof) → 401 [RFC 9068 §4]."""
    key = signing_key("ES256")
    token = make_token(key, hdr=header(key, typ=typ))
    refuse(verifier("ES256"), token, InvalidType, *(v for v in [typ] if isinstance(v, str)))


@pytest.mark.parametrize(
    "typ", ["at+jwt", "application/at+jwt", "AT+JWT", "Application/At+Jwt", "APPLICATION/AT+JWT"]
)
def test_typ_is_compared_case_insensitively(typ):
    """RFC 7515 §4.1.9 / RFC 9068 §4: media types compare case-insensitively, prefix optional."""
    key = signing_key("ES256")
    token = make_token(key, hdr=header(key, typ=typ))
    assert verifier("ES256").verify(token, now=NOW)["sub"] == "user-1"


# ------------------------------------------------------------------------------ alg


@pytest.mark.parametrize(
    "alg",
    [
        ABSENT,
        None,
        256,
        True,
        ["ES256"],
        {"ES256": True},
        "",
        "ES256 ",
        " ES256",
        "ES256\n",
        "ES256\x00",
        "es256",
        "Es256",
        "ＥＳ256",
    ],
    ids=[
        "missing",
        "null",
        "int",
        "bool",
        "list",
        "object",
        "empty",
        "trailing-space",
        "leading-space",
        "newline",
        "nul",
        "lowercase",
        "mixed-case",
        "fullwidth",
    ],
)
def test_malformed_alg_is_refused(alg):
    """§2 `alg` missing, not a string, with whitespace, wrong case → 401 [RFC 7515 §4.1.1]."""
    key = signing_key("ES256")
    token = make_token(key, hdr=header(key, alg=alg))
    refuse(verifier("ES256"), token, AlgorithmNotAllowed)


@pytest.mark.parametrize("alg", ["ES384", "RS256", "PS256", "EdDSA", "HS256"])
def test_alg_not_configured_is_refused(alg):
    """§2 an algorithm not configured → 401, even if the verifier (wrongly) holds its key."""
    key = signing_key(alg)
    keys = key_set("ES256") if alg == "HS256" else key_set("ES256", alg)
    refuse(verifier("ES256", keys=keys), make_token(key), AlgorithmNotAllowed)


def test_header_alg_must_equal_the_keys_alg_ecdsa():
    """DESIGN rule 2: alg must match the key's own; ES256 key, header ES384, both allowed."""
    key = signing_key("ES256")
    token = make_token(key, hdr=header(key, alg="ES384"))
    refuse(verifier("ES256", "ES384"), token, AlgorithmNotAllowed)


@pytest.mark.parametrize(("pinned", "claimed"), [("RS256", "PS256"), ("PS256", "RS256")])
def test_header_alg_must_equal_the_keys_alg_rsa(pinned, claimed):
    """RFC 8725 §3.1: one RSA key pinned to `pinned`, the token really signed with `claimed`.

    The signature is genuine for `claimed` over the same RSA key, so only the key-alg binding
    refuses it.
    """
    pinned_key = signing_key(pinned)
    assert isinstance(pinned_key, SigningKey)
    impostor = SigningKey(signing_key("RS256")._private, claimed, kid=pinned_key.kid)
    token = make_token(impostor)
    keys = KeySet([pinned_key.public])
    refuse(verifier(pinned, claimed, keys=keys), token, AlgorithmNotAllowed)


def test_header_alg_must_equal_the_keys_alg_eddsa_names():
    """RFC 9864: EdDSA and Ed25519 name one primitive, yet a key pinned to one refuses the other."""
    eddsa = signing_key("EdDSA")
    assert isinstance(eddsa, SigningKey)
    impostor = SigningKey(eddsa._private, "Ed25519", kid=eddsa.kid)
    token = make_token(impostor)
    refuse(verifier("EdDSA", "Ed25519", keys=KeySet([eddsa.public])), token, AlgorithmNotAllowed)


def test_header_alg_without_kid_must_have_a_key_of_that_alg():
    """§2 kid-less token whose alg is allowed but matches no trusted key → 401."""
    key = signing_key("ES256")
    token = make_token(key, hdr=header(key, alg="ES384", kid=ABSENT))
    refuse(verifier("ES256", "ES384", keys=key_set("ES256")), token, AlgorithmNotAllowed)
