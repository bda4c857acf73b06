"""Driving the user flows over HTTP: users, web clients, the login page, code → tokens."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from harness import API, Harness

from tessera.secret import Secret
from tessera.server.client_secrets import generate_client_secret
from tessera.storage.records import Client
from tessera.storage.user_records import User

REDIRECT = "https://app.example.test/callback"
PASSWORD = "correct horse battery staple"


async def add_user(
    h: Harness, email: str = "ada@example.test", password: str = PASSWORD, **kw: Any
) -> User:
    user = User(
        tenant_id=kw.pop("tenant", "default"),
        user_id=uuid.uuid4().hex,
        email=email,
        password_hash=h.ctx.passwords.hash(Secret(password)),
        name=kw.pop("name", "Ada Lovelace"),
        created_at=h.clock.now,
        updated_at=h.clock.now,
        **kw,
    )
    await h.ctx.store.add_user(user)
    return user


async def add_web_client(
    h: Harness,
    client_id: str = "web",
    *,
    redirect_uris: tuple[str, ...] = (REDIRECT,),
    post_logout: tuple[str, ...] = ("https://app.example.test/bye",),
    public: bool = False,
    first_party: bool = True,
    scopes: str = "openid profile email data:read data:write",
    grants: frozenset[str] = frozenset({"authorization_code", "refresh_token"}),
    audiences: tuple[str, ...] = (API,),
    require_par: bool = False,
    token_format: str = "jwt",
) -> str | None:
    secret = None if public else generate_client_secret().reveal_str()
    if secret is not None:
        h.remember(secret)
        h.secrets[client_id] = secret
    await h.ctx.store.add_client(
        Client(
            tenant_id="default",
            client_id=client_id,
            name=f"{client_id} app",
            auth_method="none" if public else "client_secret_basic",
            secret_hash=h.ctx.hasher.hash(secret) if secret else None,
            grant_types=grants,
            scopes=frozenset(scopes.split()),
            audiences=audiences,
            token_format=token_format,  # type: ignore[arg-type]
            created_at=h.clock.now,
            updated_at=h.clock.now,
            metadata={
                "redirect_uris": list(redirect_uris),
                "post_logout_redirect_uris": list(post_logout),
                "first_party": first_party,
                "require_par": require_par,
            },
        )
    )
    return secret


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


def location_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code in (302, 303), (response.status_code, response.text[:300])
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return {k: v[0] for k, v in query.items()}


@dataclass
class Authorized:
    code: str
    verifier: str
    state: str
    nonce: str
    redirect_uri: str


def authorize_params(client_id: str, challenge: str, **extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile email data:read",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


async def login(h: Harness, response: httpx.Response, email: str, password: str) -> httpx.Response:
    """From a redirect to the login page: fill it in and submit it."""
    assert response.status_code == 303, (response.status_code, response.text[:300])
    page = await h.http.get(response.headers["location"])
    assert page.status_code == 200, page.text[:300]
    return await h.http.post(
        f"{h.issuer}/login",
        data={
            "interaction": hidden(page.text, "interaction"),
            "csrf": hidden(page.text, "csrf"),
            "email": email,
            "password": password,
        },
    )


async def consent(h: Harness, response: httpx.Response, decision: str = "allow") -> httpx.Response:
    page = await h.http.get(response.headers["location"])
    assert page.status_code == 200, page.text[:300]
    return await h.http.post(
        f"{h.issuer}/consent",
        data={
            "interaction": hidden(page.text, "interaction"),
            "csrf": hidden(page.text, "csrf"),
            "decision": decision,
        },
    )


async def authorize(
    h: Harness,
    client_id: str = "web",
    *,
    email: str = "ada@example.test",
    password: str = PASSWORD,
    **extra: str,
) -> Authorized:
    """The whole browser leg: /authorize → (login) → (consent) → code."""
    verifier, challenge = pkce_pair()
    params = authorize_params(client_id, challenge, **extra)
    response = await h.http.get(f"{h.issuer}/authorize", params=params)
    if "/login?" in response.headers.get("location", ""):
        response = await login(h, response, email, password)
    if "/consent?" in response.headers.get("location", ""):
        response = await consent(h, response)
    got = location_params(response)
    assert "code" in got, got
    h.remember(got["code"])
    return Authorized(got["code"], verifier, params["state"], params["nonce"], REDIRECT)


async def token_request(h: Harness, client_id: str, **form: str) -> httpx.Response:
    secret = h.secrets.get(client_id)
    auth = (client_id, secret) if secret else None
    data = dict(form)
    if secret is None:
        data["client_id"] = client_id
    response = await h.http.post(f"{h.issuer}/token", data=data, auth=auth)
    if response.status_code == 200:
        for name in ("access_token", "refresh_token", "id_token"):
            if name in response.json():
                h.remember(response.json()[name])
    return response


async def exchange(h: Harness, client_id: str, got: Authorized) -> httpx.Response:
    return await token_request(
        h,
        client_id,
        grant_type="authorization_code",
        code=got.code,
        redirect_uri=got.redirect_uri,
        code_verifier=got.verifier,
    )


async def refresh(h: Harness, client_id: str, token: str, **form: str) -> httpx.Response:
    return await token_request(
        h, client_id, grant_type="refresh_token", refresh_token=token, **form
    )


async def tokens_for(h: Harness, client_id: str = "web", **extra: str) -> tuple[Authorized, Any]:
    """Log in, get a code and redeem it: (the authorization, the token response body)."""
    got = await authorize(h, client_id, **extra)
    response = await exchange(h, client_id, got)
    assert response.status_code == 200, response.text
    return got, response.json()
