"""SECURITY.md §3 — parsing: segments, base64url, size, JSON; and unit tests of the parsers.

Sources: RFC 7515 §2, §3.1, §5.2, §7.1 (compact form, base64url without padding), RFC 4648
§3.5 (canonical encoding), RFC 8259 §4, §8.1 (JSON, UTF-8, BOM), RFC 7493 §2 (I-JSON: no
lone surrogates, unique names), RFC 8725 §3.3. Every JSON oddity is SIGNED by the trusted key
over its literal bytes, so only the parser rule under test can refuse it.
"""

from __future__ import annotations

import base64
import binascii
import json
import time

import pytest
from _atk import (
    AUDIENCE,
    ISSUER,
    NOW,
    assert_no_leak,
    claims,
    header,
    make_token,
    refuse,
    sign_segments,
    signing_key,
    to_json,
    verifier,
)

from tessera.errors import InvalidSignature, MalformedToken, TesseraError, TokenTooLarge
from tessera.jose import peek_unverified_claims, peek_unverified_header, sign_compact
from tessera.jose.b64 import (
    b64url_decode,
    b64url_encode,
    decode_canonical,
    has_canonical_tail,
    is_b64url,
)
from tessera.jose.strict_json import dumps_compact, loads_object

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
DEEP = 1 << 20  # max_token_bytes for the very deep documents


def _token(alg: str = "ES256") -> str:
    return make_token(signing_key(alg))


def _python_b64(segment: str) -> bytes:
    """What Python's own (lenient) decoder makes of a segment; excess padding is ignored."""
    return base64.urlsafe_b64decode(segment + "===")


def _header_bytes(alg: str = "ES256") -> bytes:
    return to_json(header(signing_key(alg)))


def _claims_bytes() -> bytes:
    return to_json(claims())


def _payload_with(member: bytes) -> bytes:
    """Valid claims plus one raw JSON member ``member`` (``b'"name":value'``)."""
    return _claims_bytes()[:-1] + b"," + member + b"}"


def _header_with(member: bytes, alg: str = "ES256") -> bytes:
    return _header_bytes(alg)[:-1] + b"," + member + b"}"


def _signed(header_bytes: bytes, payload_bytes: bytes, alg: str = "ES256") -> str:
    return sign_segments(header_bytes, payload_bytes, signing_key(alg))


def _refuse_malformed(token: str, *attacker_values: str, **options: object) -> None:
    refuse(verifier("ES256", **options), token, MalformedToken, *attacker_values)


def test_control_valid_token_verifies():
    """Positive control for every case here: the unmodified token verifies."""
    assert verifier("ES256").verify(_token(), now=NOW)["iss"] == ISSUER


# ------------------------------------------------------------------- segment counts


def _segment_cases() -> dict[str, str]:
    h, p, s = _token().split(".")
    return {
        "1-segment": h,
        "1-segment-concatenated": h + p + s,
        "2-segments": f"{h}.{p}",
        "4-segments": f"{h}.{p}.{s}.{s}",
        "4-segments-trailing-dot": f"{h}.{p}.{s}.",
        "6-segments": f"{h}.{p}.{s}.{h}.{p}.{s}",
        "empty-header": f".{p}.{s}",
        "empty-payload": f"{h}..{s}",
        "empty-signature": f"{h}.{p}.",
        "only-dots": "..",
        "four-dots": "....",
        "empty-string": "",
        "leading-dot": f".{h}.{p}.{s}",
        "json-serialization-general": json.dumps(
            {"payload": p, "signatures": [{"protected": h, "signature": s}]}
        ),
        "json-serialization-flattened": json.dumps({"payload": p, "protected": h, "signature": s}),
    }


@pytest.mark.parametrize("case", list(_segment_cases()))
def test_wrong_segment_structure_is_refused(case):
    """§3 1, 2, 4 or 6 segments, empty segments, JSON serialization → 401 [RFC 7515 §7.1]."""
    _refuse_malformed(_segment_cases()[case])


@pytest.mark.parametrize("case", list(_segment_cases()))
def test_peek_refuses_wrong_segment_structure(case):
    """§3: the unverified peek applies the same rule 1 as the verifier."""
    with pytest.raises(MalformedToken):
        peek_unverified_header(_segment_cases()[case])


# ----------------------------------------------------------------- base64url strictness


def _signature_with_dash_or_underscore() -> str:
    key = signing_key("ES256")
    for _ in range(200):
        token = make_token(key)
        if "-" in token.rsplit(".", 1)[1] or "_" in token.rsplit(".", 1)[1]:
            return token
    pytest.fail("no signature with - or _ in 200 tries")  # probability ~ 2**-700


# name → (mutation of the signature segment, what Python's lenient decoder makes of it:
# "same" = the very same signature bytes, "accepts" = other bytes, "refuses" = an error)
_SIGNATURE_MUTATIONS = {
    "standard-alphabet": (lambda s: s.replace("-", "+").replace("_", "/"), "same"),
    "plus-inserted": (lambda s: s[:40] + "+" + s[40:], "accepts"),
    "slash-inserted": (lambda s: s[:40] + "/" + s[40:], "accepts"),
    "equals-inserted": (lambda s: s[:40] + "=" + s[40:], "same"),
    "space-inserted": (lambda s: s[:40] + " " + s[40:], "same"),
    "newline-inserted": (lambda s: s[:40] + "\n" + s[40:], "same"),
    "crlf-inserted": (lambda s: s[:40] + "\r\n" + s[40:], "same"),
    "tab-inserted": (lambda s: s[:40] + "\t" + s[40:], "same"),
    "trailing-newline": (lambda s: s + "\n", "same"),
    "trailing-space": (lambda s: s + " ", "same"),
    "asterisk-inserted": (lambda s: s[:40] + "*" + s[40:], "same"),
    "nul": (lambda s: s[:40] + "\x00" + s[40:], "same"),
    "padding": (lambda s: s + "=" * (-len(s) & 3), "same"),
    "excess-padding": (lambda s: s + "====", "same"),
    "non-canonical-tail": (lambda s: s[:-1] + ALPHABET[ALPHABET.index(s[-1]) + 1], "same"),
    "non-ascii-e-acute": (lambda s: s[:40] + "é" + s[40:], "refuses"),
    "non-ascii-fullwidth-digit": (lambda s: s[:40] + "０" + s[40:], "refuses"),
    "non-ascii-arabic-digit": (lambda s: s[:40] + "٣" + s[40:], "refuses"),
    "zero-width-space": (lambda s: s[:40] + "\u200b" + s[40:], "refuses"),
}


def _python_verdict(mutated: str, original: str) -> str:
    try:
        decoded = _python_b64(mutated)
    except ValueError:  # binascii.Error is a ValueError
        return "refuses"
    return "same" if decoded == _python_b64(original) else "accepts"


@pytest.mark.parametrize("case", list(_SIGNATURE_MUTATIONS))
def test_non_canonical_base64url_signature_is_refused(case):
    """§3 characters outside [A-Za-z0-9_-], padding, non-canonical trailing bits → 401,
    checked BEFORE decoding.

    Where Python's decoder gives back the very same signature bytes ("same"), the mutated
    token would VERIFY without the pre-check (many spellings of one token); "accepts" means
    Python decodes it silently to other bytes.
    """
    mutate, python_verdict = _SIGNATURE_MUTATIONS[case]
    token = _signature_with_dash_or_underscore()
    head, _, signature = token.rpartition(".")
    assert len(signature) % 4 == 2  # ES256: 64 bytes → 86 chars, a 2-char tail
    mutated = mutate(signature)
    assert mutated != signature
    assert _python_verdict(mutated, signature) == python_verdict
    assert not is_b64url(mutated)
    _refuse_malformed(head + "." + mutated)


@pytest.mark.parametrize("segment_index", [0, 1])
@pytest.mark.parametrize("inserted", ["+", "/", "=", " ", "\n", "é"])
def test_characters_outside_the_alphabet_refused_in_header_and_payload(segment_index, inserted):
    """§3 any character outside [A-Za-z0-9_-] IN A SEGMENT → 401 (header and payload too)."""
    parts = _token().split(".")
    parts[segment_index] = parts[segment_index][:10] + inserted + parts[segment_index][10:]
    _refuse_malformed(".".join(parts))


def test_padding_refused_in_header_and_payload():
    """§3 padding → 401 [RFC 7515 §2: base64url WITHOUT padding]."""
    for sub in ("a", "ab", "abc"):  # vary the payload length to cover every padded tail
        token = make_token(signing_key("ES256"), payload=claims(sub=sub))
        h, p, s = token.split(".")
        for padded in (f"{h}{'=' * (-len(h) & 3)}.{p}.{s}", f"{h}.{p}{'=' * (-len(p) & 3)}.{s}"):
            if padded != token:
                _refuse_malformed(padded)


def test_non_canonical_trailing_bits_refused_in_a_three_char_tail():
    """§3 non-canonical trailing bits → 401, for a segment with a 3-char tail (2 spare bits)."""
    key = signing_key("ES256")
    for sub in ("a", "ab", "abc", "abcd"):
        token = make_token(key, payload=claims(sub=sub))
        h, p, s = token.split(".")
        if len(p) % 4 == 3:
            break
    else:
        pytest.fail("no payload length with a 3-char tail")
    tail = ALPHABET.index(p[-1])
    assert tail % 4 == 0  # canonical: the 2 spare bits are zero
    for spare in (1, 2, 3):
        mutated = p[:-1] + ALPHABET[tail + spare]
        assert _python_b64(mutated) == _python_b64(p)  # Python: the same payload bytes
        _refuse_malformed(f"{h}.{mutated}.{s}")


def test_python_base64_really_is_lenient():
    """Why §3 demands a pre-check: the stdlib decodes all of these without complaint."""
    assert base64.urlsafe_b64decode("YW Jj\nZA==") == b"abcd"
    assert base64.urlsafe_b64decode("YWJjZB==") == b"abcd"  # non-canonical: B instead of A
    assert base64.urlsafe_b64decode("YW+/") == base64.urlsafe_b64decode("YW-_")
    assert base64.urlsafe_b64decode("YWJj*ZA==") == b"abcd"


# --------------------------------------------------------------------------- size cap


@pytest.mark.parametrize(
    "garbage",
    [
        "A" * 8193,
        "." * 8193,
        "\x00" * 10_000,
        "é" * 9000,
        ("A" * 4000 + ".") * 3,
        "A" * (16 << 20),
    ],
    ids=["letters", "dots", "nul", "non-ascii", "three-big-segments", "16-MiB"],
)
def test_oversized_garbage_is_refused_before_decoding(garbage):
    """§3 token over the size cap (default 8 KiB) → 401 before any decoding."""
    started = time.perf_counter()
    exc = refuse(verifier("ES256"), garbage, TokenTooLarge)
    assert time.perf_counter() - started < 0.1
    assert isinstance(exc, MalformedToken)
    with pytest.raises(TokenTooLarge):
        peek_unverified_header(garbage)
    with pytest.raises(TokenTooLarge):
        peek_unverified_claims(garbage)


def _token_of_length(length: int) -> str:
    """A valid signed token exactly ``length`` characters long (padding a claim)."""
    key = signing_key("ES256")
    for kid_pad in range(4):
        hdr = header(key, x="y" * kid_pad)
        start = (length - len(make_token(key, hdr=hdr, payload=claims(pad="")))) * 3 // 4 - 4
        for pad in range(start, start + 12):
            token = make_token(key, hdr=hdr, payload=claims(pad="p" * pad))
            if len(token) == length:
                return token
            if len(token) > length:
                break
    pytest.fail(f"could not build a token of length {length}")


def test_size_cap_boundary():
    """§3 the cap is inclusive: 8192 characters verify, 8193 are refused."""
    at_cap = _token_of_length(8192)
    assert verifier("ES256").verify(at_cap, now=NOW)["iss"] == ISSUER
    over = _token_of_length(8193)
    refuse(verifier("ES256"), over, TokenTooLarge)


def test_valid_but_oversized_token_is_refused():
    """§3 size cap: an otherwise valid token over the cap → 401 (also a configured cap)."""
    token = make_token(signing_key("ES256"), payload=claims(pad="p" * 7000))
    assert 8192 < len(token) < 16384
    refuse(verifier("ES256"), token, TokenTooLarge)
    assert verifier("ES256", max_token_bytes=16384).verify(token, now=NOW)["iss"] == ISSUER
    small = _token()
    refuse(verifier("ES256", max_token_bytes=256), small + "", TokenTooLarge)


# ------------------------------------------------------------------------ JSON payloads


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


_PAYLOAD_CASES: dict[str, bytes] = {
    "duplicate-iss": b'{"iss":"https://evil.example","iss":"%s","aud":"%s","exp":%d}'
    % (ISSUER.encode(), AUDIENCE.encode(), NOW + 300),
    "duplicate-exp": b'{"iss":"%s","aud":"%s","exp":%d,"exp":%d}'
    % (ISSUER.encode(), AUDIENCE.encode(), NOW + 10**9, NOW + 300),
    "duplicate-aud": b'{"iss":"%s","aud":"https://other.example","aud":"%s","exp":%d}'
    % (ISSUER.encode(), AUDIENCE.encode(), NOW + 300),
    "duplicate-nested": _payload_with(b'"cnf":{"jkt":"a","jkt":"b"}'),
    "duplicate-escaped": _payload_with(b'"sub":"x","s\\u0075b":"y"')[:0]
    + b'{"iss":"%s","aud":"%s","exp":%d,"sub":"a","s\\u0075b":"b"}'
    % (ISSUER.encode(), AUDIENCE.encode(), NOW + 300),
    "nan": _payload_with(b'"x":NaN'),
    "infinity": _payload_with(b'"x":Infinity'),
    "minus-infinity": _payload_with(b'"x":-Infinity'),
    "exp-infinity": b'{"iss":"%s","aud":"%s","exp":Infinity}'
    % (ISSUER.encode(), AUDIENCE.encode()),
    "invalid-utf8-ff": _payload_with(b'"x":"\xff"'),
    "latin1": _payload_with('"x":"café"'.encode("latin-1")),
    "overlong-utf8": _payload_with(b'"x":"\xc0\xaf"'),
    "utf8-encoded-surrogate": _payload_with(b'"x":"\xed\xa0\x80"'),
    "truncated-utf8": _payload_with(b'"x":"\xe2\x82"'),
    "utf-16-le": json.dumps(claims()).encode("utf-16-le"),
    "utf-16-be": json.dumps(claims()).encode("utf-16-be"),
    "utf-16-bom": json.dumps(claims()).encode("utf-16"),
    "utf-32": json.dumps(claims()).encode("utf-32"),
    "utf-8-bom": b"\xef\xbb\xbf" + to_json(claims()),
    "lone-high-surrogate": _payload_with(b'"x":"\\ud800"'),
    "lone-low-surrogate": _payload_with(b'"x":"\\udfff"'),
    "lone-surrogate-uppercase": _payload_with(b'"x":"\\uD800"'),
    "lone-surrogate-then-letter": _payload_with(b'"x":"\\ud800\\u0041"'),
    "reversed-surrogate-pair": _payload_with(b'"x":"\\ude00\\ud83d"'),
    "lone-surrogate-in-name": _payload_with(b'"\\ud800":1'),
    "lone-surrogate-nested": _payload_with(b'"x":[{"y":["\\udbff"]}]'),
    "lone-surrogate-in-sub": b'{"iss":"%s","aud":"%s","exp":%d,"sub":"\\ud800"}'
    % (ISSUER.encode(), AUDIENCE.encode(), NOW + 300),
    "int-4301-digits": _payload_with(b'"x":1' + b"0" * 4300),
    "exp-4301-digits": b'{"iss":"%s","aud":"%s","exp":1%s}'
    % (ISSUER.encode(), AUDIENCE.encode(), b"0" * 4300),
    "negative-int-5000-digits": _payload_with(b'"x":-' + b"9" * 5000),
    "top-level-array": b"[" + to_json(claims()) + b"]",
    "top-level-string": b'"' + to_json(claims()).replace(b'"', b'\\"') + b'"',
    "top-level-number": b"1700000300",
    "top-level-null": b"null",
    "top-level-true": b"true",
    "empty": b"",
    "whitespace-only": b"   ",
    "two-objects": to_json(claims()) + to_json(claims()),
    "trailing-garbage": to_json(claims()) + b"x",
    "trailing-comma": _claims_bytes()[:-1] + b",}",
    "single-quotes": _claims_bytes().replace(b'"', b"'"),
    "raw-control-char": _payload_with(b'"x":"a\nb"'),
    "comment": _claims_bytes()[:-1] + b"/* c */}",
}


@pytest.mark.parametrize("case", list(_PAYLOAD_CASES))
def test_hostile_json_payload_is_refused(case):
    """§3 duplicate keys, NaN/Infinity, non-UTF-8/UTF-16, BOM, lone surrogates, integers over
    4300 digits, top-level non-object → 401 [RFC 8259, RFC 7493 §2, RFC 7515 §4].

    Signed over the literal bytes by the trusted key: only the JSON rule can refuse it.
    """
    token = _signed(_header_bytes(), _PAYLOAD_CASES[case])
    _refuse_malformed(token, "https://evil.example", "https://other.example")


def test_python_json_would_have_accepted_these():
    """Why §3 needs its own JSON rules: the stdlib accepts every one of these silently."""
    assert json.loads(_PAYLOAD_CASES["duplicate-iss"])["iss"] == ISSUER  # last one wins
    assert json.loads(_PAYLOAD_CASES["exp-infinity"])["exp"] == float("inf")
    assert json.loads(_PAYLOAD_CASES["utf-16-le"])["iss"] == ISSUER  # encoding sniffed
    assert json.loads(_PAYLOAD_CASES["utf-8-bom"].decode("utf-8-sig"))["iss"] == ISSUER
    assert json.loads(_PAYLOAD_CASES["lone-high-surrogate"])["x"] == "\ud800"


@pytest.mark.parametrize("depth", [1000, 1001, 5000, 100_000])
def test_deeply_nested_payload_is_refused(depth):
    """§3 JSON nested ~1000 deep (Python raises RecursionError) → 401, never a crash."""
    token = _signed(_header_bytes(), _payload_with(b'"x":' + _nested(depth)))
    _refuse_malformed(token, max_token_bytes=DEEP)


@pytest.mark.parametrize("depth", [1000, 1001, 5000, 100_000])
def test_deeply_nested_header_is_refused(depth):
    """§3 a header nested ~1000 deep → 401, never a crash."""
    token = _signed(_header_with(b'"x":' + _nested(depth)), _claims_bytes())
    _refuse_malformed(token, max_token_bytes=DEEP)
    with pytest.raises(MalformedToken):
        peek_unverified_header(token, max_bytes=DEEP)


def _outcome(call) -> str:
    try:
        call()
    except MalformedToken:
        return "refused"
    except TesseraError as exc:
        return f"other TesseraError: {exc!r}"
    except RecursionError:
        return "RecursionError"
    return "ok"


def test_no_nesting_depth_crashes_the_verifier():
    """§3 "JSON nested ~1000 deep (Python raises RecursionError) → 401".

    Every depth from 1 to 1100 either verifies or is refused as MalformedToken; none may
    escape as RecursionError from any later step (claim freezing, surrogate scanning).
    Object nesting and array nesting both; a surrogate pair escape forces the scan.
    """
    v = verifier("HS256", max_token_bytes=DEEP)
    bad: dict[int, str] = {}
    for depth in range(1, 1101):
        for inner in (_nested(depth), b'{"a":' * depth + b'"\\ud83d\\ude00"' + b"}" * depth):
            token = _signed(_header_bytes("HS256"), _payload_with(b'"x":' + inner), alg="HS256")
            outcome = _outcome(lambda token=token: v.verify(token, now=NOW))
            if outcome not in ("ok", "refused"):
                bad.setdefault(depth, outcome)
    assert not bad, f"depths that crash: {sorted(bad)[:5]}… e.g. {next(iter(bad.values()))}"


def test_no_nesting_depth_crashes_the_header_parsers():
    """§3 the same for the header, through the verifier, peek and the strict JSON loader."""
    v = verifier("HS256", max_token_bytes=DEEP)
    bad: dict[int, str] = {}
    for depth in range(1, 1101):
        inner = b"[" * depth + b'"\\ud83d\\ude00"' + b"]" * depth
        header_bytes = _header_with(b'"x":' + inner, "HS256")
        token = _signed(header_bytes, _claims_bytes(), alg="HS256")
        for name, call in (
            ("verify", lambda token=token: v.verify(token, now=NOW)),
            ("peek", lambda token=token: peek_unverified_header(token, max_bytes=DEEP)),
            ("loads", lambda data=header_bytes: loads_object(data)),
        ):
            outcome = _outcome(call)
            if outcome not in ("ok", "refused"):
                bad.setdefault(depth, f"{name}: {outcome}")
    assert not bad, f"depths that crash: {sorted(bad)[:5]}… e.g. {next(iter(bad.values()))}"


# ------------------------------------------------------------------------- JSON headers


_HEADER_CASES: dict[str, bytes] = {
    "duplicate-alg": b'{"alg":"none","alg":"ES256","kid":"atk-ES256","typ":"at+jwt"}',
    "duplicate-kid": b'{"alg":"ES256","kid":"evil","kid":"atk-ES256","typ":"at+jwt"}',
    "duplicate-typ": b'{"alg":"ES256","kid":"atk-ES256","typ":"JWT","typ":"at+jwt"}',
    "nan": _header_with(b'"x":NaN'),
    "infinity": _header_with(b'"x":Infinity'),
    "minus-infinity": _header_with(b'"x":-Infinity'),
    "invalid-utf8": _header_with(b'"x":"\xff\xfe"'),
    "utf-16-le": _header_bytes().decode().encode("utf-16-le"),
    "utf-16-bom": _header_bytes().decode().encode("utf-16"),
    "utf-8-bom": b"\xef\xbb\xbf" + _header_bytes(),
    "lone-surrogate": _header_with(b'"x":"\\ud800"'),
    "lone-surrogate-kid": b'{"alg":"ES256","kid":"atk-ES256\\udc00","typ":"at+jwt"}',
    "int-4301-digits": _header_with(b'"x":1' + b"0" * 4300),
    "top-level-array": b"[" + _header_bytes() + b"]",
    "top-level-string": b'"ES256"',
    "top-level-null": b"null",
    "empty": b"",
    "trailing-garbage": _header_bytes() + b"]",
}


@pytest.mark.parametrize("case", list(_HEADER_CASES))
def test_hostile_json_header_is_refused(case):
    """§3 the JSON rules for the header (duplicate `alg`: Python would keep the last)."""
    token = _signed(_HEADER_CASES[case], _claims_bytes())
    _refuse_malformed(token, "evil")
    with pytest.raises(MalformedToken):
        peek_unverified_header(token)


def test_whitespace_inside_json_is_fine():
    """§3 "whitespace inside the JSON is fine": the signature covers the literal bytes."""
    header_bytes = b'{ "alg" : "ES256" ,\n\t"kid" : "atk-ES256" , "typ":"at+jwt" }'
    payload_bytes = b"\r\n " + json.dumps(claims(), indent=4).encode() + b" \n"
    token = _signed(header_bytes, payload_bytes)
    result = verifier("ES256").verify(token, now=NOW)
    assert result["iss"] == ISSUER
    assert result["exp"] == NOW + 300


def test_valid_surrogate_pairs_and_escapes_are_fine():
    """Control for the lone-surrogate cases: a proper pair and an escaped backslash verify."""
    payload = _payload_with(b'"x":"\\ud83d\\ude00","y":"\\\\ud800"')
    result = verifier("ES256").verify(_signed(_header_bytes(), payload), now=NOW)
    assert result["x"] == "\U0001f600"
    assert result["y"] == "\\ud800"


def test_sign_compact_payload_with_hostile_json_is_refused():
    """§3 the same rule through the library's own signer (sign_compact over raw bytes)."""
    key = signing_key("ES256")
    payload = _payload_with(b'"x":NaN')
    _refuse_malformed(sign_compact(payload, key, typ="at+jwt"))


# ----------------------------------------------------------------------- tampering


@pytest.mark.parametrize(
    "change",
    [
        {"sub": "admin"},
        {"exp": NOW + 10**8},
        {"aud": [AUDIENCE, "https://admin.example"]},
        {"scope": "admin:all"},
    ],
    ids=["sub", "exp", "aud", "scope"],
)
def test_tampered_claims_with_the_signature_kept_are_refused(change):
    """§3 claims tampered with the signature kept → 401; the error reflects no claim value."""
    h, _, s = _token().split(".")
    forged = b64url_encode(to_json(claims(**change)))
    values = [str(v) for v in change.values() if isinstance(v, str)]
    refuse(verifier("ES256"), f"{h}.{forged}.{s}", InvalidSignature, *values)


def test_tampered_header_with_the_signature_kept_is_refused():
    """§3 the signature covers the literal header bytes too (here: another spelling of typ)."""
    key = signing_key("ES256")
    _, p, s = _token().split(".")
    forged = b64url_encode(to_json(header(key, typ="AT+JWT")))
    refuse(verifier("ES256"), f"{forged}.{p}.{s}", InvalidSignature)


def test_signature_moved_between_tokens_is_refused():
    """§3 a signature belongs to its own signing input only."""
    key = signing_key("ES256")
    a = make_token(key, payload=claims(sub="alice"))
    b = make_token(key, payload=claims(sub="mallory"))
    refuse(verifier("ES256"), a.rsplit(".", 1)[0] + "." + b.rsplit(".", 1)[1], InvalidSignature)


# ======================================================================= unit: b64


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff\xfe", b"abc", bytes(range(256))])
def test_b64url_round_trip_without_padding(data):
    """RFC 7515 §2: base64url without padding, and decoding is its exact inverse."""
    encoded = b64url_encode(data)
    assert "=" not in encoded
    assert set(encoded) <= set(ALPHABET)
    assert is_b64url(encoded)
    assert b64url_decode(encoded) == data
    assert decode_canonical(encoded) == data


@pytest.mark.parametrize("length", range(1, 4))
def test_every_short_tail_is_canonical_exactly_when_it_round_trips(length):
    """RFC 4648 §3.5: exhaustively, a tail is accepted iff re-encoding gives it back."""
    for prefix_len in (0, 4):
        for last in ALPHABET:
            segment = "QUJD"[:prefix_len] + "A" * (length - 1) + last
            if length == 1:
                assert not is_b64url(segment)  # a lone character encodes no whole byte
                continue
            canonical = b64url_encode(_python_b64(segment)) == segment
            assert is_b64url(segment) is canonical
            assert has_canonical_tail(segment) is canonical
            if canonical:
                assert b64url_decode(segment) == _python_b64(segment)
            else:
                with pytest.raises(MalformedToken):
                    b64url_decode(segment)


@pytest.mark.parametrize(
    "segment",
    ["YWJj=", "YWI=", "YQ==", "YW+j", "YW/j", "YW j", "YWJj\n", "ÿWJj", "YWJjZ", "YWJjZB", "A"],
)
def test_b64url_decode_refuses_and_says_nothing_of_the_input(segment):
    """§3: strict decode raises MalformedToken with a message free of the input."""
    with pytest.raises(MalformedToken) as info:
        b64url_decode(segment, what="payload")
    assert_no_leak(info.value, segment)
    assert "payload" in str(info.value)


def test_python_decoder_accepts_what_b64url_decode_refuses():
    """§3: the refusals above are not redundant with the stdlib's own checks."""
    for segment in ("YWI=", "YW+j", "YW j", "YWJjZB", "YWJj\n"):
        assert _python_b64(segment)
    with pytest.raises(binascii.Error):
        base64.urlsafe_b64decode("A")  # the only one the stdlib itself refuses


# ================================================================ unit: strict_json


def test_loads_object_accepts_valid_json_objects():
    parsed = loads_object(b'{"a":[1,2.5,"x",null,true,{"b":{}}]}')
    # Nested values are read-only: arrays become tuples, objects mapping proxies.
    assert parsed == {"a": (1, 2.5, "x", None, True, {"b": {}})}
    with pytest.raises(TypeError):
        parsed["a"][5]["b"] = 1
    assert loads_object(b' \n{ "a" : 1 }\t ') == {"a": 1}
    assert loads_object('{"é":"☃"}'.encode()) == {"é": "☃"}
    assert loads_object(b'{"x":18446744073709551615}')["x"] == 2**64 - 1  # u64: exact
    # Beyond what a double holds (I-JSON, RFC 7493 §2.2): refused, on either parse path.
    for text in (b'{"x":1' + b"0" * 4299 + b"}", b'{"x":"\\/","y":1' + b"0" * 400 + b"}"):
        with pytest.raises(MalformedToken):
            loads_object(text)


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":1,"a":1}',
        b'{"a":{"b":1,"b":2}}',
        b'{"a":[{"b":1,"b":2}]}',
        b'{"a":1,"\\u0061":2}',
        b'{"a":NaN}',
        b'{"a":Infinity}',
        b'{"a":-Infinity}',
        b'{"a":[NaN]}',
        b'{"a":"\xff"}',
        b"\xef\xbb\xbf{}",
        '{"a":1}'.encode("utf-16"),
        '{"a":1}'.encode("utf-16-le"),
        '{"a":1}'.encode("utf-32"),
        b'{"a":"\\ud800"}',
        b'{"a":"\\uDFFF"}',
        b'{"\\ud800":1}',
        b'{"a":{"\\udbff":1}}',
        b'{"a":1' + b"0" * 4300 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b"[]",
        b'"x"',
        b"1",
        b"null",
        b"",
        b"{}{}",
        b'{"a":"\x01"}',
    ],
)
def test_loads_object_refusals(data):
    """RFC 8259 / RFC 7493 I-JSON: each leniency of Python's json is closed."""
    with pytest.raises(MalformedToken) as info:
        loads_object(data, "payload")
    assert type(info.value) is MalformedToken


def test_dumps_compact_is_strict_and_compact():
    assert dumps_compact({"a": [1, "é"], "b": None}) == '{"a":[1,"é"],"b":null}'.encode()
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError, match="JSON"):
            dumps_compact({"a": bad})
