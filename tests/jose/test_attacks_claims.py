"""SECURITY.md §4 — claims, through ``tessera.verify.Verifier`` with an explicit ``now``.

Sources: RFC 7519 §4.1 (registered claims, §4.1.4 "on or after exp … MUST NOT be accepted"),
RFC 7519 §2 (NumericDate), RFC 9068 §4, RFC 8725 §3.8–3.9. Each token is signed by the
trusted key with every other claim valid, so exactly one claim rule refuses it.
"""

from __future__ import annotations

import pytest
from _atk import (
    ABSENT,
    AUDIENCE,
    ISSUER,
    NOW,
    claims,
    header,
    key_set,
    make_token,
    refuse,
    sign_segments,
    signing_key,
    to_json,
    verifier,
)

from tessera.errors import (
    ConfigurationError,
    InvalidAudience,
    InvalidClaim,
    InvalidIssuer,
    IssuedInFuture,
    MalformedToken,
    MissingClaim,
    TesseraError,
    TokenExpired,
    TokenNotYetValid,
    TokenTooOld,
)
from tessera.verify import Verifier

LEEWAY = 30


def _verifier(**options):
    return verifier("ES256", leeway=LEEWAY, **options)


def _token(**overrides) -> str:
    return make_token(signing_key("ES256"), payload=claims(**overrides))


def _raw_token(payload: bytes) -> str:
    """Signed over literal payload bytes (for numbers json.dumps cannot write)."""
    key = signing_key("ES256")
    return sign_segments(to_json(header(key)), payload, key)


def _strs(*values: object) -> list[str]:
    """Attacker-provided strings distinctive enough to look for in an error message."""
    return [v for v in values if isinstance(v, str) and len(v) >= 4]


def _accept(token: str, now: float = NOW, **options):
    return _verifier(**options).verify(token, now=now)


def _refuse(token: str, error: type[TesseraError], *values: str, now: float = NOW, **options):
    return refuse(_verifier(**options), token, error, *values, now=now)


def test_control_valid_claims_verify():
    """Positive control for every case here."""
    result = _accept(_token())
    assert result["sub"] == "user-1"


# ---------------------------------------------------------------------------- exp


def test_exp_missing_is_refused():
    """§4 `exp` missing → 401 [RFC 9068 §2.2: exp is REQUIRED]."""
    _refuse(_token(exp=ABSENT), MissingClaim)


@pytest.mark.parametrize("age", [LEEWAY + 1, LEEWAY + 0.001, 3600, NOW])
def test_exp_past_beyond_leeway_is_refused(age):
    """§4 `exp` past, beyond the leeway → 401."""
    _refuse(_token(exp=NOW - age, iat=max(0, NOW - age - 60)), TokenExpired)


def test_exp_boundary_is_exclusive():
    """RFC 7519 §4.1.4: valid only BEFORE exp. exp == now - leeway fails; just after passes."""
    _refuse(_token(exp=NOW - LEEWAY), TokenExpired)
    assert _accept(_token(exp=NOW - LEEWAY + 0.5))["exp"] == NOW - LEEWAY + 0.5
    assert _accept(_token(exp=NOW - LEEWAY + 1))["exp"] == NOW - LEEWAY + 1
    # The same token crosses the boundary as time moves on.
    token = _token(exp=NOW + 100)
    assert _accept(token, now=NOW + 100 + LEEWAY - 1)
    _refuse(token, TokenExpired, now=NOW + 100 + LEEWAY)


def test_exp_within_leeway_is_accepted():
    """§4 "past (beyond leeway)": within the leeway a recently expired token still verifies."""
    assert _accept(_token(exp=NOW - LEEWAY // 2))


@pytest.mark.parametrize(
    "exp",
    [str(NOW + 300), "", True, False, None, [NOW + 300], {"t": NOW + 300}, -1, -(NOW + 300)],
    ids=["string", "empty-string", "true", "false", "null", "array", "object", "-1", "negative"],
)
def test_exp_of_the_wrong_type_or_sign_is_refused(exp):
    """§4 `exp` a string, a bool (bool is an int in Python), null, an array, negative → 401."""
    _refuse(_token(exp=exp), InvalidClaim, *_strs(exp))


@pytest.mark.parametrize(
    "raw",
    [b"1e300", b"1e400", b"-1e400", b"253402300800", b"1" + b"0" * 100, b"1.7976931348623157e308"],
    ids=["1e300", "1e400-is-infinity", "-1e400", "year-10000", "googol", "max-double"],
)
def test_exp_huge_is_refused(raw):
    """§4 `exp` huge (1e300, 1e400 which Python parses as inf) → 401 (never "never expires").

    A number no double can hold (±1e400) is refused by the JSON parser itself (I-JSON,
    RFC 7493 §2.2); finite but absurd dates by the NumericDate range rule.
    """
    payload = b'{"iss":"%s","aud":"%s","exp":%s}' % (ISSUER.encode(), AUDIENCE.encode(), raw)
    expected = MalformedToken if raw in (b"1e400", b"-1e400") else InvalidClaim
    _refuse(_raw_token(payload), expected)


def test_exp_fractional_is_valid():
    """§4 "Fractional NumericDate is valid" [RFC 7519 §2]."""
    result = _accept(_token(exp=NOW + 300.25, iat=NOW - 0.5, nbf=NOW - 0.75))
    assert result["exp"] == NOW + 300.25
    assert result.expires_at == NOW + 300.25


def test_exp_as_float_literal_with_exponent_is_valid():
    """RFC 7519 §2 NumericDate is a JSON number: `1.7000003e9` is one."""
    payload = b'{"iss":"%s","aud":"%s","exp":1.7000003e9}' % (ISSUER.encode(), AUDIENCE.encode())
    assert _accept(_raw_token(payload))["exp"] == 1.7000003e9


# ------------------------------------------------------------------------ nbf, iat


def test_nbf_in_the_future_beyond_leeway_is_refused():
    """§4 `nbf` in the future → 401 (beyond the leeway)."""
    _refuse(_token(nbf=NOW + LEEWAY + 1), TokenNotYetValid)
    _refuse(_token(nbf=NOW + LEEWAY + 0.001), TokenNotYetValid)


def test_nbf_within_leeway_is_accepted():
    """§4 leeway: nbf up to now + leeway verifies (clock skew)."""
    assert _accept(_token(nbf=NOW + LEEWAY))
    assert _accept(_token(nbf=NOW + 1))


@pytest.mark.parametrize("nbf", ["soon", True, None, [NOW], -5, 1e300])
def test_nbf_of_the_wrong_type_is_refused(nbf):
    """§4 NumericDate typing applies to nbf as to exp."""
    _refuse(_token(nbf=nbf), InvalidClaim, *_strs(nbf))


def test_iat_in_the_future_beyond_leeway_is_refused():
    """§4 `iat` in the future beyond leeway → 401."""
    _refuse(_token(iat=NOW + LEEWAY + 1), IssuedInFuture)


def test_iat_within_leeway_is_accepted():
    assert _accept(_token(iat=NOW + LEEWAY))


@pytest.mark.parametrize("iat", ["now", False, None, {}, -1])
def test_iat_of_the_wrong_type_is_refused(iat):
    """§4 NumericDate typing applies to iat as to exp."""
    _refuse(_token(iat=iat), InvalidClaim)


def test_max_age_refuses_old_tokens():
    """DESIGN rule 6 "optional max age": iat older than max_age (+ leeway) → 401."""
    max_age = 600
    _refuse(_token(iat=NOW - max_age - LEEWAY - 1), TokenTooOld, max_age=max_age)
    assert _accept(_token(iat=NOW - max_age - LEEWAY), max_age=max_age)
    assert _accept(_token(iat=NOW - 10), max_age=max_age)


def test_max_age_requires_iat():
    """A max age cannot be checked without iat: its absence is refused, not ignored."""
    _refuse(_token(iat=ABSENT), MissingClaim, max_age=600)
    assert _accept(_token(iat=ABSENT))  # without max_age iat is optional


# ------------------------------------------------------------------------------ iss


@pytest.mark.parametrize(
    "iss",
    [
        ISSUER + "/",
        ISSUER[:-1],
        ISSUER + ".evil.example",
        "https://issuer.еxample",  # Cyrillic е (U+0435)
        ISSUER.upper(),
        "HTTPS://issuer.example",
        " " + ISSUER,
        ISSUER + "\x00",
        "http://issuer.example",
        "https://issuer.example:443",
        "",
    ],
    ids=[
        "trailing-slash",
        "prefix",
        "suffixed-host",
        "homoglyph",
        "upper",
        "scheme-case",
        "leading-space",
        "nul",
        "http",
        "default-port",
        "empty",
    ],
)
def test_iss_must_match_exactly(iss):
    """§4 `iss` with a trailing slash, a prefix, a homoglyph → 401 (exact match)."""
    _refuse(_token(iss=iss), InvalidIssuer, *_strs(iss))


@pytest.mark.parametrize(
    "iss", [[ISSUER], [ISSUER, ISSUER], None, 1, True, {"iss": ISSUER}], ids=repr
)
def test_iss_of_the_wrong_type_is_refused(iss):
    """§4 `iss` an array (even containing ours) → 401."""
    _refuse(_token(iss=iss), InvalidIssuer)


def test_iss_missing_is_refused():
    _refuse(_token(iss=ABSENT), MissingClaim)


# ------------------------------------------------------------------------------ aud


@pytest.mark.parametrize(
    "aud",
    [
        "https://other-api.example",
        AUDIENCE + "/",
        AUDIENCE.upper(),
        ["https://other-api.example"],
        [],
        "",
        None,
        7,
        True,
        [AUDIENCE, 1],
        [AUDIENCE, None],
        [[AUDIENCE]],
        {"aud": AUDIENCE},
        [""],
    ],
    ids=[
        "other-api",
        "trailing-slash",
        "upper",
        "list-other",
        "empty-list",
        "empty-string",
        "null",
        "number",
        "bool",
        "list-with-number",
        "list-with-null",
        "nested-list",
        "object",
        "list-empty-string",
    ],
)
def test_aud_not_for_us_is_refused(aud):
    """§4 `aud` must be ours or an array containing it; [], "", null, numbers → 401.

    A token for API A presented to API B → 401.
    """
    _refuse(_token(aud=aud), InvalidAudience, "https://other-api.example")


def test_aud_missing_is_refused():
    _refuse(_token(aud=ABSENT), MissingClaim)


@pytest.mark.parametrize(
    "aud",
    [AUDIENCE, [AUDIENCE], ["https://other-api.example", AUDIENCE], [AUDIENCE, AUDIENCE]],
    ids=["string", "list-of-one", "list-containing-ours", "list-repeating-ours"],
)
def test_aud_containing_ours_is_accepted(aud):
    """§4 `aud` our audience or an array containing it → verifies."""
    result = _accept(_token(aud=aud))
    assert AUDIENCE in result.audience


def test_token_for_api_a_is_refused_by_api_b():
    """§4 "A token for API A presented to API B → 401" — same issuer, same keys."""
    token = _token(aud="https://api-a.example")
    api_b = Verifier(
        issuer=ISSUER,
        audience="https://api-b.example",
        algorithms=["ES256"],
        keys=key_set("ES256"),
    )
    refuse(api_b, token, InvalidAudience, "https://api-a.example")


# ----------------------------------------------------------------- string claims


@pytest.mark.parametrize("name", ["sub", "jti", "client_id", "tenant_id", "scope"])
@pytest.mark.parametrize(
    "value", [1, True, None, ["a"], {"a": 1}, 1.5], ids=["int", "bool", "null", "list", "obj", "f"]
)
def test_string_claims_of_the_wrong_type_are_refused(name, value):
    """DESIGN rule 6 / RFC 7519 §4.1.2, §4.1.7, RFC 8693 §4.2: these claims are strings."""
    _refuse(_token(**{name: value}), InvalidClaim)


@pytest.mark.parametrize("name", ["sub", "jti", "client_id", "tenant_id", "scope"])
def test_string_claims_accepted_as_strings(name):
    assert _accept(_token(**{name: "value-1"}))[name] == "value-1"


# ------------------------------------------------------------------------- leeway


@pytest.mark.parametrize(
    "leeway",
    [121, 120.5, 3600, -1, -0.5, float("inf"), float("nan"), True, "30", None],
    ids=["121", "120.5", "hour", "-1", "-0.5", "inf", "nan", "bool", "string", "none"],
)
def test_bad_leeway_is_a_configuration_error(leeway):
    """DESIGN "clock skew tolerated 0–120 s": anything else is refused at start."""
    with pytest.raises(ConfigurationError):
        Verifier(
            issuer=ISSUER,
            audience=AUDIENCE,
            algorithms=["ES256"],
            keys=key_set("ES256"),
            leeway=leeway,
        )


@pytest.mark.parametrize("leeway", [0, 0.5, 120])
def test_leeway_in_range_is_accepted_and_used(leeway):
    token = _token(exp=NOW)
    v = verifier("ES256", leeway=leeway)
    refuse(v, token, TokenExpired, now=NOW + leeway)
    if leeway:
        assert v.verify(token, now=NOW + leeway - 0.25)


@pytest.mark.parametrize(
    "max_age",
    [0, -1, float("nan"), True, "600"],
    ids=["zero", "negative", "nan", "bool", "string"],
)
def test_bad_max_age_is_a_configuration_error(max_age):
    """DESIGN rule 6 "optional max age": a positive number of seconds, else refused at start."""
    with pytest.raises(ConfigurationError):
        Verifier(
            issuer=ISSUER,
            audience=AUDIENCE,
            algorithms=["ES256"],
            keys=key_set("ES256"),
            max_age=max_age,
        )
