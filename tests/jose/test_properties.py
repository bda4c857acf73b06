"""Property-based tests (SECURITY.md §11: "property-based tests … find what lists miss").

- sign → verify round-trips random JSON claims for every algorithm;
- any single-character change of a valid token is refused with a TokenError — never
  another exception, never success (SECURITY.md §3: "The signature is verified over the
  literal bytes"; a canonical encoding gives one spelling per token);
- arbitrary text, bytes and near-tokens fed to the verifier and the unverified peeks raise
  only TesseraError subclasses (SECURITY.md preamble: "no 5xx").
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import pytest
from _atk import (
    ALL_ALGS,
    AUDIENCE,
    ISSUER,
    NOW,
    assert_no_leak,
    claims,
    signing_key,
    verifier,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tessera.errors import TesseraError, TokenError
from tessera.jose import encode_jwt, peek_unverified_claims, peek_unverified_header
from tessera.jose.b64 import b64url_decode, b64url_encode
from tessera.verify import Verifier

REGISTERED = frozenset(
    {"iss", "aud", "exp", "nbf", "iat", "sub", "jti", "client_id", "tenant_id", "scope", "scp"}
)
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

_text = st.text(st.characters(codec="utf-8"), max_size=12)
_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text
)
json_values = st.recursive(
    _json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=12,
)
extra_claims = st.dictionaries(
    _text.filter(lambda name: name not in REGISTERED), json_values, max_size=6
)
_numeric_date_past = st.integers(NOW - 10**6, NOW) | st.floats(NOW - 10**6, NOW)
registered_claims = st.fixed_dictionaries(
    {
        "iss": st.just(ISSUER),
        "aud": st.just(AUDIENCE)
        | st.lists(_text, max_size=3).map(lambda others: [*others, AUDIENCE]),
        "exp": st.integers(NOW + 1, NOW + 10**8) | st.floats(NOW + 0.5, NOW + 10**8),
    },
    optional={
        "nbf": _numeric_date_past,
        "iat": _numeric_date_past,
        "sub": _text,
        "jti": _text,
        "client_id": _text,
        "tenant_id": _text,
        "scope": _text,
        "scp": st.lists(_text, max_size=4),
    },
)

_SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _thaw(value: Any) -> Any:
    """Claims freezes arrays into tuples and objects into read-only mappings; undo for ==."""
    if isinstance(value, tuple | list):
        return [_thaw(item) for item in value]
    if isinstance(value, Mapping):
        return {name: _thaw(item) for name, item in value.items()}
    return value


@functools.cache
def _verifier(alg: str, cache_size: int = 0) -> Verifier:
    return verifier(alg, cache_size=cache_size)


@functools.cache
def _token(alg: str) -> str:
    return encode_jwt(claims(scope="read write", nested={"a": [1, 2.5, None]}), signing_key(alg))


# ---------------------------------------------------------------------- round trip


@pytest.mark.parametrize("alg", ALL_ALGS)
@_SETTINGS
@given(registered=registered_claims, extra=extra_claims)
def test_sign_verify_round_trip(alg, registered, extra):
    """Every algorithm: random JSON claims (with valid registered claims) survive intact."""
    payload = {**extra, **registered}
    token = encode_jwt(payload, signing_key(alg))
    result = _verifier(alg).verify(token, now=NOW)
    assert _thaw(result) == payload
    assert result.issuer == ISSUER
    assert AUDIENCE in result.audience


# ------------------------------------------------------------------- single flips


@st.composite
def _flips(draw: st.DrawFn, token: str) -> str:
    position = draw(st.integers(0, len(token) - 1))
    kind = draw(st.sampled_from(["alphabet", "bit", "any"]))
    if kind == "alphabet":
        replacement = draw(st.sampled_from(BASE64URL + "."))
    elif kind == "bit":
        replacement = chr(ord(token[position]) ^ (1 << draw(st.integers(0, 7))))
    else:
        replacement = draw(st.characters())
    return token[:position] + replacement + token[position + 1 :]


@pytest.mark.parametrize("alg", ALL_ALGS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_single_character_flip_is_refused(alg, data):
    """§3: changing any one character of a valid token → a TokenError, never success."""
    token = _token(alg)
    mutated = data.draw(_flips(token))
    assume(mutated != token)
    with pytest.raises(TokenError) as info:
        _verifier(alg).verify(mutated, now=NOW)
    assert_no_leak(info.value, mutated, token)


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA", "HS256"])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_single_byte_flip_of_decoded_segment_is_refused(alg, data):
    """§3: flipping one byte of a DECODED segment (re-encoded canonically) → TokenError."""
    token = _token(alg)
    segments = token.split(".")
    index = data.draw(st.integers(0, 2))
    raw = bytearray(b64url_decode(segments[index]))
    position = data.draw(st.integers(0, len(raw) - 1))
    raw[position] ^= data.draw(st.integers(1, 255))
    segments[index] = b64url_encode(bytes(raw))
    with pytest.raises(TokenError):
        _verifier(alg).verify(".".join(segments), now=NOW)


# --------------------------------------------------------------------- random input


_header_like = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["ES256", "HS256", "none", "RS256", "es256"]) | json_values,
        "kid": st.sampled_from(["atk-ES256", "atk-HS256", ""]) | json_values,
        "typ": st.sampled_from(["at+jwt", "JWT"]) | json_values,
        "crit": json_values,
        "jku": json_values,
        "b64": json_values,
    },
).flatmap(lambda base: extra_claims.map(lambda extra: {**extra, **base}))


def _json_segment(value: Any) -> str:
    return b64url_encode(json.dumps(value, ensure_ascii=False).encode("utf-8"))


garbage = st.one_of(
    st.text(),
    st.text(alphabet=BASE64URL + ".=+/ \n", max_size=200),
    st.binary(),
    st.tuples(st.binary(max_size=80), st.binary(max_size=80), st.binary(max_size=80)).map(
        lambda parts: ".".join(b64url_encode(p) for p in parts)
    ),
    st.tuples(_header_like, st.one_of(registered_claims, json_values), st.binary(max_size=300)).map(
        lambda t: f"{_json_segment(t[0])}.{_json_segment(t[1])}.{b64url_encode(t[2])}"
    ),
    st.lists(json_values.map(_json_segment), min_size=1, max_size=6).map(".".join),
)


@settings(max_examples=300, deadline=None)
@given(value=garbage)
def test_random_input_to_verify_raises_only_token_errors(value):
    """Preamble "no 5xx": any input is refused with a TokenError (cache on and off)."""
    for v in (_verifier("ES256"), _verifier("HS256"), _verifier("ES256", 16)):
        with pytest.raises(TokenError) as info:
            v.verify(value, now=NOW)
        if isinstance(value, str) and len(value) >= 8:
            assert_no_leak(info.value, value)


@settings(max_examples=300, deadline=None)
@given(value=garbage)
def test_random_input_to_peek_raises_only_tessera_errors(value):
    """peek_unverified_* either decodes a JSON object or raises a TesseraError."""
    for peek in (peek_unverified_header, peek_unverified_claims):
        try:
            result = peek(value)
        except TesseraError:
            continue
        assert isinstance(result, dict)
