"""The BFF as a confidential OAuth 2.1 / OpenID Connect client of the authorization server.

Discovery pins the issuer's endpoints once (the metadata must name exactly the configured
issuer, RFC 8414 §3.3); ID tokens are verified by Tessera's own :class:`Verifier` against
the issuer's pinned JWKS (``typ: JWT``, ``aud`` = our client id) and their ``nonce`` is
compared in constant time. The client secret goes only in HTTP Basic to the token and
revocation endpoints, never in a URL or a log line.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlencode

import httpx

from tessera.bff.config import BffSettings
from tessera.errors import FetchError, LoginRefused
from tessera.jose.b64 import b64url_encode
from tessera.jose.claims import Claims
from tessera.secret import constant_time_equals
from tessera.verify import Verifier

__all__ = ["LoginRefused", "OAuthClient", "TokenSet", "pkce_pair"]

_ID_TOKEN_ALGS: Final = frozenset({"ES256", "ES384", "EdDSA", "Ed25519", "PS256", "RS256"})


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str
    refresh_token: str | None
    id_token: str | None
    expires_at: float


def pkce_pair() -> tuple[str, str]:
    """RFC 7636 §4.1–4.2: a 256-bit verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(32)
    return verifier, b64url_encode(hashlib.sha256(verifier.encode("ascii")).digest())


class OAuthClient:
    def __init__(
        self,
        settings: BffSettings,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._http = http
        self._clock = clock
        secret = f"{quote(settings.client_id, safe='')}:{quote(settings.client_secret, safe='')}"
        self._basic = "Basic " + base64.b64encode(secret.encode()).decode()
        self._metadata: dict[str, Any] = {}
        self._ids: Verifier | None = None

    async def start(self) -> None:
        """Discover the issuer and pin its endpoints and keys (fails start-up if it can't)."""
        issuer = self._settings.issuer
        response = await self._http.get(f"{issuer}/.well-known/openid-configuration")
        if response.status_code != 200:
            raise FetchError("the issuer's metadata is unavailable")
        metadata = response.json()
        if not isinstance(metadata, dict) or metadata.get("issuer") != issuer:
            raise FetchError("the issuer's metadata names another issuer")
        self._metadata = metadata
        algs = set(metadata.get("id_token_signing_alg_values_supported") or []) & _ID_TOKEN_ALGS
        if not algs:
            raise FetchError("the issuer signs ID tokens with no algorithm we accept")
        self._ids = await Verifier.from_issuer(
            issuer,
            audience=self._settings.client_id,
            algorithms=sorted(algs),
            typ="JWT",
            http=self._http,
            required_claims=("sub", "nonce", "iat"),
            clock=self._clock,
        )

    def _endpoint(self, name: str) -> str:
        value = self._metadata.get(name)
        if not isinstance(value, str):
            raise FetchError(f"the issuer has no {name}")
        return value

    def authorization_url(self, *, state: str, nonce: str, challenge: str) -> str:
        params = {
            "response_type": "code",
            "client_id": self._settings.client_id,
            "redirect_uri": self._settings.redirect_uri,
            "scope": self._settings.scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if self._settings.resource:
            params["resource"] = self._settings.resource
        return f"{self._endpoint('authorization_endpoint')}?{urlencode(params)}"

    def end_session_url(self) -> str | None:
        """RP-initiated logout WITHOUT ``id_token_hint``: a token never goes into a URL;
        the authorization server asks the user to confirm instead."""
        endpoint = self._metadata.get("end_session_endpoint")
        if not isinstance(endpoint, str):
            return None
        params = {
            "client_id": self._settings.client_id,
            "post_logout_redirect_uri": f"{self._settings.origin}/",
        }
        return f"{endpoint}?{urlencode(params)}"

    async def _token(self, form: dict[str, str], now: float) -> TokenSet:
        try:
            response = await self._http.post(
                self._endpoint("token_endpoint"),
                data=form,
                headers={"Authorization": self._basic},
            )
        except httpx.HTTPError as exc:
            raise FetchError("the authorization server is unreachable") from exc
        if response.status_code != 200:
            error = _error_code(response)
            raise LoginRefused("the authorization server refused", error=error)
        body = response.json()
        access = body.get("access_token")
        expires_in = body.get("expires_in")
        if not isinstance(access, str) or not isinstance(expires_in, int):
            raise LoginRefused("the token response is malformed")
        refresh = body.get("refresh_token")
        id_token = body.get("id_token")
        return TokenSet(
            access_token=access,
            refresh_token=refresh if isinstance(refresh, str) else None,
            id_token=id_token if isinstance(id_token, str) else None,
            expires_at=now + expires_in,
        )

    async def exchange(self, code: str, verifier: str, now: float) -> TokenSet:
        """RFC 6749 §4.1.3 with the PKCE verifier (RFC 7636 §4.5)."""
        return await self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self._settings.redirect_uri,
                "code_verifier": verifier,
            },
            now,
        )

    async def refresh(self, refresh_token: str, now: float) -> TokenSet:
        """RFC 6749 §6; the server rotates the refresh token, the caller stores the new one."""
        return await self._token(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}, now
        )

    async def revoke(self, refresh_token: str) -> None:
        """RFC 7009: revoking the refresh token revokes its whole family at Tessera."""
        endpoint = self._metadata.get("revocation_endpoint")
        if not isinstance(endpoint, str):
            return
        try:
            await self._http.post(
                endpoint,
                data={"token": refresh_token, "token_type_hint": "refresh_token"},
                headers={"Authorization": self._basic},
            )
        except httpx.HTTPError as exc:
            raise FetchError("the authorization server is unreachable") from exc

    async def verify_id_token(self, id_token: str, nonce: str, now: float) -> Claims:
        """OIDC Core §3.1.3.7: signature, iss, aud, exp, iat — and our nonce."""
        assert self._ids is not None  # noqa: S101 - start() ran at start-up
        claims = await self._ids.verify_async(id_token, now=now)
        got = claims.get("nonce")
        if not isinstance(got, str) or not constant_time_equals(got, nonce):
            raise LoginRefused("the ID token's nonce does not match this login")
        return claims


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "unknown"
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) and error.isidentifier() else "unknown"
