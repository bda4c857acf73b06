"""Authlib's OAuth 2 client (over httpx) against the app, on SQLite and PostgreSQL.

A client library we did not write: its authorization URL (PKCE S256), its parsing of the
redirect (``state`` checked by Authlib itself), its token requests (client_secret_basic,
or ``none`` for a public client), its refresh and its client-credentials request must all
work unchanged. Authlib does not drive the login page; the test does, as ``_flow`` does.
Authlib also judges the discovery document (RFC 8414 / OIDC Discovery), and joserfc the ID
token. Time is the harness's fake clock; nothing sleeps.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from _flow import REDIRECT, add_user, add_web_client, consent, login
from harness import API, Harness
from joserfc import jwt as jrfc_jwt
from joserfc.jwk import KeySet

from tessera.jose.unverified import peek_unverified_claims
from tessera.server.app import build_app

with warnings.catch_warnings():
    import authlib.deprecate  # noqa: F401 - installs an "always" filter; ours must come after

    # Authlib 1.9 prefers the httpx2 fork and warns once, at import, when it falls back to
    # httpx; httpx is the client this project uses and the one under test here.
    warnings.filterwarnings("ignore", "The httpx module is deprecated", DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from authlib.oauth2.rfc6749.errors import MismatchingStateException
from authlib.oidc.discovery import OpenIDProviderMetadata

SCOPE = "openid profile email data:read"
EMAIL = "ada@example.test"


class _ProviderMetadata(OpenIDProviderMetadata):
    def validate_id_token_signing_alg_values_supported(self) -> None:
        """OIDC Discovery §3 says RS256 MUST be listed; Tessera signs with ONE algorithm
        (ES256 by default) and returns ID tokens only from the token endpoint, the case OIDC
        Core §15.1 exempts from RS256. Checked here: a list naming the configured alg."""
        values = self.get("id_token_signing_alg_values_supported")
        if not isinstance(values, list) or "ES256" not in values or "none" in values:
            raise ValueError("id_token_signing_alg_values_supported must list ES256, not none")


async def _metadata(h: Harness) -> dict[str, Any]:
    response = await h.http.get(f"{h.issuer}/.well-known/openid-configuration")
    assert response.status_code == 200, response.text
    metadata: dict[str, Any] = response.json()
    _ProviderMetadata(metadata).validate()  # Authlib's own RFC 8414 + OIDC Discovery checks
    return metadata


@asynccontextmanager
async def _authlib(h: Harness, client_id: str, **options: Any) -> AsyncIterator[Any]:
    """Authlib's client, sending to the same app in process (its own httpx transport)."""
    transport = httpx.ASGITransport(app=build_app(h.ctx, background=False))
    async with AsyncOAuth2Client(client_id=client_id, transport=transport, **options) as client:
        yield client


def _remember(h: Harness, token: dict[str, Any]) -> None:
    for name in ("access_token", "refresh_token", "id_token"):
        if name in token:
            h.remember(token[name])


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _check_id_token(h: Harness, jwks: dict[str, Any], value: str, nonce: str | None) -> None:
    """joserfc verifies the signature with our JWKS and the OIDC Core §3.1.3.7 claims."""
    token = jrfc_jwt.decode(value, KeySet.import_key_set(jwks), algorithms=["ES256"])
    claims: dict[str, Any] = {
        "iss": {"essential": True, "value": h.issuer},
        "aud": {"essential": True, "value": "web"},
        "sub": {"essential": True},
    }
    if nonce is not None:
        claims["nonce"] = {"essential": True, "value": nonce}
    jrfc_jwt.JWTClaimsRegistry(now=int(h.clock.now), **claims).validate(token.claims)


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "none"])
async def test_code_flow_with_pkce_then_refresh(server, auth_method):
    user = await add_user(server)
    public = auth_method == "none"
    secret = await add_web_client(server, public=public)
    metadata = await _metadata(server)
    jwks = (await server.http.get(metadata["jwks_uri"])).json()
    options = {"client_secret": secret} if secret else {"token_endpoint_auth_method": "none"}
    async with _authlib(
        server,
        "web",
        scope=SCOPE,
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        **options,
    ) as client:
        verifier = secrets.token_urlsafe(48)
        nonce = secrets.token_urlsafe(12)
        url, state = client.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        sent = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert sent["code_challenge_method"] == "S256"
        assert sent["code_challenge"] == _s256(verifier)

        # The browser's part, which no client library does: login (and consent if asked).
        response = await server.http.get(url)
        response = await login(server, response, EMAIL, "correct horse battery staple")
        if "/consent?" in response.headers.get("location", ""):
            response = await consent(server, response)
        assert response.status_code == 303, response.text[:300]
        back = response.headers["location"]
        assert back.startswith(REDIRECT + "?")
        got = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
        server.remember(got["code"])
        assert got["iss"] == metadata["issuer"]  # RFC 9207: Authlib does not check it

        # Authlib compares the redirect's state with the one it made, before any request.
        with pytest.raises(MismatchingStateException):
            await client.fetch_token(
                metadata["token_endpoint"],
                authorization_response=back,
                state="not-" + state,
                code_verifier=verifier,
            )
        token = await client.fetch_token(
            metadata["token_endpoint"],
            authorization_response=back,
            state=state,
            code_verifier=verifier,
        )
        _remember(server, token)
        assert token["token_type"] == "Bearer"
        assert set(token["scope"].split()) == set(SCOPE.split())
        assert peek_unverified_claims(token["access_token"])["sub"] == user.user_id
        assert peek_unverified_claims(token["access_token"])["aud"] == API
        _check_id_token(server, jwks, token["id_token"], nonce)

        # Authlib's bearer placement on a protected resource of ours.
        userinfo = await client.get(metadata["userinfo_endpoint"])
        assert userinfo.status_code == 200, userinfo.text
        assert userinfo.json() == {
            "sub": user.user_id,
            "name": "Ada Lovelace",
            "email": EMAIL,
            "email_verified": False,
        }

        # (b) refresh: a new pair; Authlib keeps the rotated refresh token.
        first_refresh = token["refresh_token"]
        renewed = await client.refresh_token(metadata["token_endpoint"])
        _remember(server, renewed)
        assert renewed["refresh_token"] != first_refresh
        assert renewed["access_token"] != token["access_token"]
        assert client.token["refresh_token"] == renewed["refresh_token"]
        _check_id_token(server, jwks, renewed["id_token"], None)

        # Past the retry grace, the old token is reuse: Authlib surfaces invalid_grant, and
        # the family is gone for the newest token too (RFC 9700 §4.14.2).
        server.clock.advance(server.ctx.settings.refresh_grace_period + 1)
        for stale in (first_refresh, renewed["refresh_token"]):
            with pytest.raises(OAuthError) as refused:
                await client.refresh_token(metadata["token_endpoint"], refresh_token=stale)
            assert refused.value.error == "invalid_grant"


async def test_client_credentials(server):
    secret = await server.add_client("svc", scopes="data:read data:write")
    metadata = await _metadata(server)
    async with _authlib(server, "svc", client_secret=secret, scope="data:read") as client:
        token = await client.fetch_token(
            metadata["token_endpoint"], grant_type="client_credentials"
        )
    _remember(server, token)
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "data:read"
    assert "refresh_token" not in token  # RFC 6749 §4.4.3
    claims = peek_unverified_claims(token["access_token"])
    assert claims["sub"] == "client:svc"
    assert claims["client_id"] == "svc"
    assert claims["aud"] == API

    async with _authlib(server, "svc", client_secret="tss_wrong", scope="data:read") as client:
        with pytest.raises(OAuthError) as refused:
            await client.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert refused.value.error == "invalid_client"
