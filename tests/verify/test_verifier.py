"""`tessera.verify.Verifier`: happy paths, the frozen Claims result, the verified-token cache
and configuration errors (DESIGN.md "Validation rules" 1–8, STYLE.md habits 2, 7, 11).
"""

from __future__ import annotations

import functools
import json
from types import MappingProxyType

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tessera.errors import (
    ConfigurationError,
    InvalidSignature,
    MalformedToken,
    TokenError,
    TokenExpired,
    UnknownKey,
)
from tessera.jose import KeySet, SigningKey, SymmetricKey, encode_jwt
from tessera.verify import Claims, Verifier

ISSUER = "https://issuer.example"
AUDIENCE = "https://api.example"
NOW = 1_700_000_000
ASYMMETRIC = (
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
HMAC = ("HS256", "HS384", "HS512")


@functools.cache
def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def _key(alg: str, kid: str | None = None) -> SigningKey | SymmetricKey:
    kid = kid or f"vt-{alg}"
    if alg in HMAC:
        return SymmetricKey.generate(alg, kid=kid)
    if alg.startswith(("RS", "PS")):
        return SigningKey(_rsa(), alg, kid=kid)
    return SigningKey.generate(alg, kid=kid)


def _keys(*keys: SigningKey | SymmetricKey) -> KeySet:
    if all(isinstance(k, SymmetricKey) for k in keys):
        return KeySet.symmetric_set(k for k in keys if isinstance(k, SymmetricKey))
    return KeySet(k.public for k in keys if isinstance(k, SigningKey))


def _claims(**extra: object) -> dict[str, object]:
    return {"iss": ISSUER, "aud": AUDIENCE, "iat": NOW, "exp": NOW + 300, "sub": "u1", **extra}


def _verifier(alg: str = "ES256", keys: KeySet | None = None, **options: object) -> Verifier:
    return Verifier(
        issuer=ISSUER,
        audience=AUDIENCE,
        algorithms=[alg],
        keys=_keys(_key(alg)) if keys is None else keys,
        **options,
    )


# ----------------------------------------------------------------------- happy path


@pytest.mark.parametrize("alg", ASYMMETRIC + HMAC)
def test_happy_path_per_algorithm(alg):
    """DESIGN rules 1–6 pass for a correct token of every supported algorithm."""
    key = _key(alg)
    token = encode_jwt(_claims(scope="read write", jti="j-1"), key)
    result = _verifier(alg).verify(token, now=NOW)
    assert isinstance(result, Claims)
    assert result.issuer == ISSUER
    assert result.audience == (AUDIENCE,)
    assert result.subject == "u1"
    assert result.jwt_id == "j-1"
    assert result.scope == frozenset({"read", "write"})


def test_verifier_accepts_a_jwks_document():
    """`keys` may be a JWKS document (dict or JSON text) instead of a KeySet."""
    key = _key("ES256")
    assert isinstance(key, SigningKey)
    document = {"keys": [key.public.to_jwk()]}
    token = encode_jwt(_claims(), key)
    for keys in (document, json.dumps(document)):
        v = Verifier(issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256"], keys=keys)
        assert v.verify(token, now=NOW)["sub"] == "u1"


def test_verify_uses_the_clock_when_now_is_omitted():
    """STYLE habit 7: time is a parameter; the wrapper reads an injected clock."""
    token = encode_jwt(_claims(), _key("ES256"))
    assert _verifier(clock=lambda: NOW).verify(token)["sub"] == "u1"
    with pytest.raises(TokenExpired):
        _verifier(clock=lambda: NOW + 10_000).verify(token)


# -------------------------------------------------------------------- frozen Claims


def _rich_claims() -> Claims:
    token = encode_jwt(
        _claims(
            aud=[AUDIENCE, "https://other.example"],
            cnf={"jkt": "thumb", "list": [1, {"deep": [2]}]},
            roles=["a", "b"],
            client_id="c1",
            tenant_id="t1",
            nbf=NOW - 5,
        ),
        _key("ES256"),
    )
    return _verifier().verify(token, now=NOW)


def test_claims_cannot_be_assigned_or_deleted():
    """DESIGN rule 8: the result is a frozen Claims object (shared by the cache)."""
    result = _rich_claims()
    with pytest.raises(TypeError):
        result["sub"] = "admin"  # type: ignore[index]
    with pytest.raises(TypeError):
        del result["sub"]  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        result.subject = "admin"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        result.extra = 1  # type: ignore[attr-defined]
    assert not hasattr(result, "update")
    assert not hasattr(result, "pop")
    assert result["sub"] == "u1"


def test_nested_claims_are_immutable():
    """DESIGN rule 8: arrays become tuples, objects read-only mappings, all the way down."""
    result = _rich_claims()
    assert result["aud"] == (AUDIENCE, "https://other.example")
    assert isinstance(result["roles"], tuple)
    with pytest.raises(AttributeError):
        result["roles"].append("admin")
    cnf = result["cnf"]
    assert isinstance(cnf, MappingProxyType)
    with pytest.raises(TypeError):
        cnf["jkt"] = "attacker"
    assert isinstance(cnf["list"], tuple)
    assert isinstance(cnf["list"][1], MappingProxyType)
    assert cnf["list"][1]["deep"] == (2,)
    with pytest.raises(TypeError):
        cnf["list"][1]["deep"] = [3]


def test_claims_typed_accessors():
    result = _rich_claims()
    assert result.issuer == ISSUER
    assert result.subject == "u1"
    assert result.audience == (AUDIENCE, "https://other.example")
    assert result.expires_at == float(NOW + 300)
    assert isinstance(result.expires_at, float)
    assert result.not_before == float(NOW - 5)
    assert result.issued_at == float(NOW)
    assert result.client_id == "c1"
    assert result.tenant_id == "t1"
    assert result.jwt_id is None
    assert result.scope == frozenset()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"scope": "read  write\tadmin:x"}, {"read", "write", "admin:x"}),
        ({"scope": ""}, set()),
        ({"scp": ["read", "write", "read"]}, {"read", "write"}),
        ({"scp": "read write"}, {"read", "write"}),
        ({"scp": ["read", 1, None]}, {"read"}),
        ({"scope": "a b", "scp": ["c"]}, {"a", "b"}),
        ({}, set()),
    ],
    ids=["scope", "empty", "scp-array", "scp-string", "scp-mixed", "scope-wins", "none"],
)
def test_scope_is_a_frozenset(extra, expected):
    """RFC 8693 §4.2 `scope` (space-separated) or an `scp` array: a frozenset either way."""
    token = encode_jwt(_claims(**extra), _key("ES256"))
    scope = _verifier().verify(token, now=NOW).scope
    assert isinstance(scope, frozenset)
    assert scope == expected


def test_claims_repr_shows_names_not_values():
    """STYLE habit 5/6: values may be personal data; repr names claims only."""
    token = encode_jwt(_claims(email="alice@example.com", sub="secret-subject"), _key("ES256"))
    text = repr(_verifier().verify(token, now=NOW))
    assert "email" in text
    assert "alice@example.com" not in text
    assert "secret-subject" not in text
    assert ISSUER not in text


# ------------------------------------------------------------------------------ cache


def test_second_verify_is_a_cache_hit():
    """Verified-token cache: the signature is paid once per token."""
    v = _verifier(cache_size=8)
    token = encode_jwt(_claims(), _key("ES256"))
    first = v.verify(token, now=NOW)
    assert v.cache is not None
    assert (v.cache.hits, v.cache.misses) == (0, 1)
    second = v.verify(token, now=NOW + 1)
    assert v.cache.hits == 1
    assert second is first


def test_cached_token_past_exp_is_expired_on_the_hit():
    """A hit re-checks the time claims: a cached token does not outlive its exp."""
    v = _verifier(cache_size=8)
    token = encode_jwt(_claims(exp=NOW + 60), _key("ES256"))
    v.verify(token, now=NOW)
    assert v.cache is not None
    with pytest.raises(TokenExpired):
        v.verify(token, now=NOW + 60 + 30)
    assert v.cache.hits == 1


def test_update_keys_removing_the_key_fails_and_evicts_cached_tokens():
    """A key that left the set takes its cached tokens with it (UnknownKey, evicted)."""
    old = _key("ES256")
    new = _key("ES256", "vt-ES256-next")
    v = _verifier(keys=_keys(old, new), cache_size=8)
    old_token = encode_jwt(_claims(), old)
    new_token = encode_jwt(_claims(), new)
    v.verify(old_token, now=NOW)
    v.verify(new_token, now=NOW)
    assert v.cache is not None
    assert len(v.cache) == 2
    v.update_keys(_keys(new))
    assert len(v.cache) == 1
    with pytest.raises(UnknownKey):
        v.verify(old_token, now=NOW)
    assert v.verify(new_token, now=NOW)["sub"] == "u1"
    assert v.cache.hits == 1


def test_update_keys_replacing_the_key_under_the_same_kid_is_not_served_from_cache():
    """Same kid, other key material: the cached entry is not trusted, the token re-verified."""
    original = SigningKey.generate("ES256", kid="rotating")
    replacement = SigningKey.generate("ES256", kid="rotating")
    v = _verifier(keys=KeySet([original.public]), cache_size=8)
    token = encode_jwt(_claims(), original)
    v.verify(token, now=NOW)
    v.update_keys(KeySet([replacement.public]))
    with pytest.raises(InvalidSignature):
        v.verify(token, now=NOW)


def test_a_different_token_is_never_served_from_another_entry():
    """The cache is keyed by the exact token: near-copies are verified on their own."""
    v = _verifier(cache_size=8)
    key = _key("ES256")
    token = encode_jwt(_claims(), key)
    v.verify(token, now=NOW)
    head, payload, signature = token.split(".")
    forged_payload = encode_jwt(_claims(sub="admin"), key).split(".")[1]
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    non_canonical = signature[:-1] + "BRhx"["AQgw".index(signature[-1])]  # same bytes
    with pytest.raises(InvalidSignature):
        v.verify(f"{head}.{forged_payload}.{signature}", now=NOW)
    with pytest.raises(InvalidSignature):
        v.verify(f"{head}.{payload}.{flipped}", now=NOW)
    with pytest.raises(MalformedToken):
        v.verify(f"{head}.{payload}.{non_canonical}", now=NOW)
    with pytest.raises(MalformedToken):
        v.verify(token + " ", now=NOW)
    assert v.cache is not None
    assert len(v.cache) == 1
    other = encode_jwt(_claims(sub="bob"), key)
    assert v.verify(other, now=NOW)["sub"] == "bob"
    assert v.verify(token, now=NOW)["sub"] == "u1"


def test_cache_is_bounded_lru():
    v = _verifier(cache_size=3)
    key = _key("ES256")
    tokens = [encode_jwt(_claims(jti=f"j{i}"), key) for i in range(10)]
    for token in tokens:
        v.verify(token, now=NOW)
    assert v.cache is not None
    assert len(v.cache) == 3
    hits = v.cache.hits
    v.verify(tokens[-1], now=NOW)
    assert v.cache.hits == hits + 1
    v.verify(tokens[0], now=NOW)  # evicted long ago: a miss, re-verified
    assert v.cache.hits == hits + 1
    assert len(v.cache) == 3


@pytest.mark.parametrize(
    "bad", [None, 1, b"a.b.c", ["a.b.c"], {"token": "a.b.c"}, {"a.b.c"}], ids=repr
)
@pytest.mark.parametrize("cache_size", [0, 8])
def test_non_string_tokens_are_malformed_with_or_without_cache(bad, cache_size):
    """Rule 1: a token must be a string; with the cache on, unhashable input too."""
    with pytest.raises(MalformedToken):
        _verifier(cache_size=cache_size).verify(bad, now=NOW)


def test_a_refused_token_is_not_cached():
    v = _verifier(cache_size=8)
    token = encode_jwt(_claims(exp=NOW - 100), _key("ES256"))
    for _ in range(2):
        with pytest.raises(TokenExpired):
            v.verify(token, now=NOW)
    assert v.cache is not None
    assert len(v.cache) == 0
    assert v.cache.hits == 0


# -------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    "options",
    [
        {"algorithms": []},
        {"algorithms": ()},
        {"algorithms": "ES256"},
        {"algorithms": ["none"]},
        {"algorithms": ["ES256", "none"]},
        {"algorithms": ["es256"]},
        {"algorithms": ["HS256", "ES256"]},
        {"algorithms": ["RS256", "HS512"]},
        {"leeway": 121},
        {"leeway": -1},
        {"leeway": True},
        {"leeway": float("nan")},
        {"leeway": "30"},
        {"issuer": ""},
        {"audience": ""},
        {"max_token_bytes": 10},
        {"max_token_bytes": 1 << 30},
        {"cache_size": -1},
        {"keys": 42},
        {"keys": [1, 2]},
    ],
    ids=repr,
)
def test_configuration_errors(options):
    """STYLE habit 11: configuration is validated at start, with a ConfigurationError."""
    settings = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "algorithms": ["ES256"],
        "keys": _keys(_key("ES256")),
        **options,
    }
    with pytest.raises(ConfigurationError):
        Verifier(**settings)


def test_every_refusal_is_a_token_error():
    """RFC 6750 §3.1: every refusal maps to invalid_token at the edge (one base class)."""
    v = _verifier()
    for token in ("", "a.b.c", "x" * 9000, encode_jwt(_claims(exp=NOW - 100), _key("ES256"))):
        with pytest.raises(TokenError):
            v.verify(token, now=NOW)


def test_cache_re_resolves_keys_of_a_mutable_custom_resolver():
    """The identity shortcut is only for immutable key sets: a resolver that drops a key in
    place must take the cached tokens of that key with it."""
    key = SigningKey.generate("ES256")

    class Mutable:
        def __init__(self):
            self.keys = {key.kid: key.public}

        def resolve(self, kid, _alg):
            found = self.keys.get(kid)
            if found is None:
                raise UnknownKey("gone")
            return found

    resolver = Mutable()
    verifier = Verifier(
        issuer="https://i.example", audience="https://a.example", algorithms=["ES256"],
        keys=resolver, cache_size=8,
    )  # fmt: skip
    now = 1_800_000_000
    token = encode_jwt(
        {"iss": "https://i.example", "aud": "https://a.example", "exp": now + 60, "iat": now},
        key,
    )
    verifier.verify(token, now=now)
    resolver.keys.clear()
    with pytest.raises(UnknownKey):
        verifier.verify(token, now=now)
