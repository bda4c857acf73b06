"""BearerAuthMiddleware + FastAPI dependencies + VerifierSet, through HTTP (RFC 6750).

A real FastAPI app behind the middleware, called with httpx's ASGI transport; tokens signed
with local keys. Time: tokens are minted for "now" (the middleware reads the clock).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request

from tessera.errors import ConfigurationError
from tessera.jose import KeySet, SigningKey, encode_jwt
from tessera.jose.claims import Claims
from tessera.verify import BearerAuthMiddleware, Verifier, VerifierSet
from tessera.verify.fastapi import require_scopes, require_token

ISS_A = "https://a.example.test"
ISS_B = "https://b.example.test"
AUD = "https://api.example.test"
KEY_A = SigningKey.generate("ES256")
KEY_B = SigningKey.generate("ES256")


def token(key: SigningKey = KEY_A, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": ISS_A,
        "aud": AUD,
        "sub": "user-1",
        "iat": now,
        "exp": now + 300,
        "jti": "j-1",
        "scope": "data:read",
        **claims,
    }
    return encode_jwt(body, key)


def verifier(issuer: str = ISS_A, key: SigningKey = KEY_A) -> Verifier:
    return Verifier(issuer=issuer, audience=AUD, algorithms=["ES256"], keys=KeySet([key.public]))


def make_app(token_verifier: Any) -> Any:
    app = FastAPI()

    @app.get("/me")
    def me(claims: Annotated[Claims, Depends(require_token())]) -> dict[str, Any]:
        return {"sub": claims.subject, "iss": claims.issuer}

    @app.get("/export")
    def export(claims: Annotated[Claims, Depends(require_scopes("data:export"))]) -> dict[str, str]:
        return {"ok": "yes"}

    @app.post("/echo")
    async def echo(
        request: Request, claims: Annotated[Claims, Depends(require_token())]
    ) -> dict[str, str]:
        return {"body": (await request.body()).decode()}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"ok": "yes"}

    return BearerAuthMiddleware(app, token_verifier, public_paths=["/healthz"])


@pytest.fixture
async def http():
    app = make_app(verifier())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client


def _bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def test_valid_token_reaches_the_handler_as_claims(http):
    response = await http.get("/me", headers=_bearer(token()))
    assert response.status_code == 200
    assert response.json() == {"sub": "user-1", "iss": ISS_A}


async def test_missing_credentials_get_a_bare_challenge(http):
    """RFC 6750 §3.1: no authentication information → 401, no error code."""
    response = await http.get("/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="tessera"'
    assert response.headers["cache-control"] == "no-store"


async def test_invalid_token_is_401_invalid_token_and_echoes_nothing(http):
    forged = token(key=KEY_B)  # right issuer claimed, wrong key
    response = await http.get("/me", headers=_bearer(forged))
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert 'error="invalid_token"' in challenge
    assert forged not in response.text
    assert forged not in challenge
    assert "user-1" not in response.text


async def test_token_in_query_string_is_refused(http):
    """Policy (RFC 6750 §2.3 leaks tokens): the URI method is refused, even a valid token."""
    response = await http.get("/me", params={"access_token": token()})
    assert response.status_code == 400
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


async def test_token_sent_two_ways_is_invalid_request(http):
    """RFC 6750 §3.1: more than one method → invalid_request."""
    valid = token()
    response = await http.get("/me", params={"access_token": valid}, headers=_bearer(valid))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_two_authorization_headers_are_invalid_request(http):
    valid = token()
    headers = [("authorization", f"Bearer {valid}"), ("authorization", f"Bearer {valid}")]
    response = await http.get("/me", headers=headers)
    assert response.status_code == 400


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer a b", "Bearer \x00abc", "Bearer ab=c"],
)
async def test_malformed_bearer_credentials_are_invalid_request(http, header):
    response = await http.get("/me", headers={"Authorization": header})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_other_schemes_get_the_bare_challenge(http):
    response = await http.get("/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert "error=" not in response.headers["www-authenticate"]


async def test_missing_scope_is_403_naming_the_scope(http):
    response = await http.get("/export", headers=_bearer(token(scope="data:read")))
    assert response.status_code == 403
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="data:export"' in challenge
    allowed = await http.get("/export", headers=_bearer(token(scope="data:read data:export")))
    assert allowed.status_code == 200


async def test_public_paths_pass_without_a_token(http):
    assert (await http.get("/healthz")).status_code == 200


async def test_the_middleware_turns_the_token_cache_on():
    plain = verifier()
    assert plain.cache is None
    make_app(plain)
    assert plain.cache is not None


async def test_verifier_set_routes_by_exact_issuer_and_keeps_keys_apart():
    """A key of issuer A can never verify a token that claims issuer B."""
    both = VerifierSet([verifier(ISS_A, KEY_A), verifier(ISS_B, KEY_B)])
    app = make_app(both)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        ok_a = await client.get("/me", headers=_bearer(token(KEY_A, iss=ISS_A)))
        ok_b = await client.get("/me", headers=_bearer(token(KEY_B, iss=ISS_B)))
        cross = await client.get("/me", headers=_bearer(token(KEY_A, iss=ISS_B)))
        unknown = await client.get("/me", headers=_bearer(token(KEY_A, iss=ISS_A + "/")))
    assert ok_a.json()["iss"] == ISS_A
    assert ok_b.json()["iss"] == ISS_B
    assert cross.status_code == 401
    assert unknown.status_code == 401


def test_verifier_set_refuses_two_verifiers_for_one_issuer():
    with pytest.raises(ConfigurationError):
        VerifierSet([verifier(), verifier()])


def test_require_scopes_refuses_malformed_scope_names():
    with pytest.raises(ValueError, match="scope tokens"):
        require_scopes("a b")


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def test_token_in_a_form_body_is_refused(http):
    """RFC 6750 §2.2's body method is not supported: refused, never silently ignored."""
    response = await http.post("/echo", content=f"access_token={token()}", headers=FORM)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_token_in_body_and_header_is_invalid_request(http):
    valid = token()
    response = await http.post(
        "/echo", content=f"a=1&access_token={valid}", headers={**FORM, **_bearer(valid)}
    )
    assert response.status_code == 400


async def test_an_inspected_form_body_reaches_the_handler_unchanged(http):
    body = "a=1&b=" + "x" * 70_000  # several ASGI messages' worth
    response = await http.post("/echo", content=body, headers={**FORM, **_bearer(token())})
    assert response.status_code == 200
    assert response.json()["body"] == body
