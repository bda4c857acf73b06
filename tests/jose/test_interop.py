"""Interoperability with PyJWT and joserfc, both directions, for RFC 9068 access tokens.

Peers sign with their own keys and publish their own JWKS export; Tessera verifies through
:class:`Verifier` with ``typ`` ``at+jwt``. Tessera signs with :func:`encode_jwt`; the peers
verify with Tessera's exported public JWK.
"""

from __future__ import annotations

import time
import uuid
from functools import cache
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc import jwk as jrfc_jwk
from joserfc import jwt as jrfc_jwt

from tessera.errors import InvalidSignature, InvalidType
from tessera.jose import KeySet, SigningKey, encode_jwt
from tessera.verify import Verifier

ISSUER = "https://issuer.example.com"
AUDIENCE = "https://api.example.com/orders"
# joserfc 1.8 warns that the RFC 8037 name "EdDSA" is deprecated by RFC 9864; expected here.
EDDSA_NAME_DEPRECATED = pytest.mark.filterwarnings(
    "ignore:EdDSA is deprecated via RFC 9864:joserfc.errors.SecurityWarning"
)


def _claims(now: int) -> dict[str, Any]:
    return {
        "iss": ISSUER,
        "sub": "user-8c1f",
        "aud": AUDIENCE,
        "exp": now + 300,
        "nbf": now - 5,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "client_id": "orders-web",
        "scope": "orders:read orders:write",
        "tenant_id": "tenant-42",
    }


def _verifier(alg: str, jwks: dict[str, Any]) -> Verifier:
    return Verifier(
        issuer=ISSUER,
        audience=AUDIENCE,
        algorithms=[alg],
        keys=KeySet.from_jwks(jwks, algorithms=[alg], strict=True),
        typ="at+jwt",
    )


def _assert_same_claims(verified: Any, expected: dict[str, Any]) -> None:
    assert dict(verified) == expected
    assert verified.issuer == ISSUER
    assert verified.subject == expected["sub"]
    assert verified.audience == (AUDIENCE,)
    assert verified.jwt_id == expected["jti"]
    assert verified.client_id == "orders-web"
    assert verified.tenant_id == "tenant-42"
    assert verified.scope == frozenset({"orders:read", "orders:write"})
    assert verified.expires_at == expected["exp"]


# ----------------------------------------------------------------------------- PyJWT → Tessera


@cache
def _pyjwt_private_key(kty: str) -> Any:
    if kty == "EC":
        return ec.generate_private_key(ec.SECP256R1())
    if kty == "OKP":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


PYJWT_ALGS = {"ES256": "EC", "EdDSA": "OKP", "RS256": "RSA", "PS256": "RSA"}


def _pyjwt_jwks(alg: str, kid: str) -> dict[str, Any]:
    public = _pyjwt_private_key(PYJWT_ALGS[alg]).public_key()
    jwk = jwt.algorithms.get_default_algorithms()[alg].to_jwk(public, as_dict=True)
    return {"keys": [{**jwk, "kid": kid}]}


@pytest.mark.parametrize("alg", list(PYJWT_ALGS))
def test_pyjwt_token_verifies_in_tessera(alg):
    now = int(time.time())
    claims = _claims(now)
    kid = f"pyjwt-{alg.lower()}"
    token = jwt.encode(
        claims,
        _pyjwt_private_key(PYJWT_ALGS[alg]),
        algorithm=alg,
        headers={"typ": "at+jwt", "kid": kid},
    )
    verified = _verifier(alg, _pyjwt_jwks(alg, kid)).verify(token, now=now)
    _assert_same_claims(verified, claims)


def test_pyjwt_token_with_its_default_typ_is_refused():
    # PyJWT writes typ "JWT" unless told otherwise: not an RFC 9068 access token.
    now = int(time.time())
    token = jwt.encode(
        _claims(now), _pyjwt_private_key("EC"), algorithm="ES256", headers={"kid": "pyjwt-es256"}
    )
    assert jwt.get_unverified_header(token)["typ"] == "JWT"
    with pytest.raises(InvalidType):
        _verifier("ES256", _pyjwt_jwks("ES256", "pyjwt-es256")).verify(token, now=now)


# --------------------------------------------------------------------------- joserfc → Tessera


@cache
def _joserfc_private_key(kty: str) -> Any:
    if kty == "EC":
        return jrfc_jwk.ECKey.generate_key("P-256", parameters={"kid": "joserfc-ec"})
    if kty == "OKP":
        return jrfc_jwk.OKPKey.generate_key("Ed25519", parameters={"kid": "joserfc-okp"})
    return jrfc_jwk.RSAKey.generate_key(2048, parameters={"kid": "joserfc-rsa"})


JOSERFC_ALGS = [
    pytest.param("ES256", "EC", id="ES256"),
    pytest.param("EdDSA", "OKP", id="EdDSA", marks=EDDSA_NAME_DEPRECATED),
    pytest.param("Ed25519", "OKP", id="Ed25519"),
    pytest.param("RS256", "RSA", id="RS256"),
    pytest.param("PS256", "RSA", id="PS256"),
]


def _joserfc_jwks(kty: str) -> dict[str, Any]:
    exported = jrfc_jwk.KeySet([_joserfc_private_key(kty)]).as_dict(private=False)
    assert all("d" not in key for key in exported["keys"])
    return dict(exported)


def _joserfc_token(alg: str, kty: str, claims: dict[str, Any]) -> str:
    key = _joserfc_private_key(kty)
    header = {"alg": alg, "typ": "at+jwt", "kid": key.kid}
    return jrfc_jwt.encode(header, claims, key, algorithms=[alg])


@pytest.mark.parametrize(("alg", "kty"), JOSERFC_ALGS)
def test_joserfc_token_verifies_in_tessera(alg, kty):
    now = int(time.time())
    claims = _claims(now)
    token = _joserfc_token(alg, kty, claims)
    verified = _verifier(alg, _joserfc_jwks(kty)).verify(token, now=now)
    _assert_same_claims(verified, claims)


def test_joserfc_token_with_a_changed_claim_is_refused():
    now = int(time.time())
    token = _joserfc_token("ES256", "EC", _claims(now))
    other = _joserfc_token("ES256", "EC", {**_claims(now), "scope": "orders:admin"})
    header, _, signature = token.split(".")
    forged = f"{header}.{other.split('.')[1]}.{signature}"
    with pytest.raises(InvalidSignature):
        _verifier("ES256", _joserfc_jwks("EC")).verify(forged, now=now)


# --------------------------------------------------------------------- Tessera → PyJWT, joserfc


@cache
def _tessera_key(alg: str) -> SigningKey:
    return SigningKey.generate(alg, kid=f"tessera-{alg.lower()}")


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256", "PS256"])
def test_tessera_token_verifies_in_pyjwt(alg):
    key = _tessera_key(alg)
    claims = _claims(int(time.time()))
    token = encode_jwt(claims, key)
    public_jwk = key.public.to_jwk()
    assert not {"d", "p", "q", "dp", "dq", "qi"} & public_jwk.keys()
    decoded = jwt.decode(
        token,
        jwt.PyJWK(public_jwk).key,
        algorithms=[alg],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"]},
    )
    assert decoded == claims
    assert jwt.get_unverified_header(token) == {"alg": alg, "kid": key.kid, "typ": "at+jwt"}


@pytest.mark.parametrize(
    "alg",
    [
        "ES256",
        pytest.param("EdDSA", marks=EDDSA_NAME_DEPRECATED),
        "Ed25519",
        "RS256",
        "PS256",
    ],
)
def test_tessera_token_verifies_in_joserfc(alg):
    key = _tessera_key(alg)
    now = int(time.time())
    claims = _claims(now)
    token = encode_jwt(claims, key)
    decoded = jrfc_jwt.decode(token, jrfc_jwk.import_key(key.public.to_jwk()), algorithms=[alg])
    registry = jrfc_jwt.JWTClaimsRegistry(
        now=now,
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": AUDIENCE},
        sub={"essential": True},
        jti={"essential": True},
        exp={"essential": True},
    )
    registry.validate(decoded.claims)
    assert decoded.claims == claims
    assert decoded.header == {"alg": alg, "kid": key.kid, "typ": "at+jwt"}


def test_tessera_token_is_refused_by_pyjwt_under_another_key():
    # Guards the positive tests: PyJWT really checks the signature against the JWK given.
    token = encode_jwt(_claims(int(time.time())), _tessera_key("ES256"))
    stranger = SigningKey.generate("ES256", kid=_tessera_key("ES256").kid).public.to_jwk()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            token, jwt.PyJWK(stranger).key, algorithms=["ES256"], audience=AUDIENCE, issuer=ISSUER
        )
