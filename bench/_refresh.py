"""Refresh-token chains for the server bench: a client on each server, fresh chains on demand.

Both servers get a confidential client ``app-web-01`` (client_secret_basic, grants
``authorization_code`` + ``refresh_token``) and chains that start as if a user had just logged
in: scope ``openid read:orders``, resource/audience ``https://api.example.test``. Each refresh
then authenticates the client by its secret, finds and rotates the refresh token, and issues
an ES256 RFC 9068 access token and an ES256 ID token (``openid`` is in scope on both).

- Peer: node-oidc-provider's own models, through the loopback seeding listener of
  ``bench/peers/oidc/server.mjs`` (``SEED_PORT``): a Grant and a RefreshToken per chain.
- Tessera: through its storage API, as its authorization-code grant would: a pending
  ``AuthorizationCode`` redeemed into a ``RefreshFamily`` with its first ``RefreshToken``
  (value ``trt_…`` and its stored hash made by the server's own helpers), and the access
  token of that redemption.

Chains are seeded fresh for every run (warm-up and measured alike), so no run inherits a
long chain from the one before.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import secrets
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench._servers import API, Credentials, TesseraHome, add_client

if TYPE_CHECKING:
    from tessera.storage.sql import SqlStore

__all__ = [
    "REFRESH_BODY_PREFIX",
    "REFRESH_SCOPE",
    "Refresher",
    "peer_refresher",
    "tessera_refresher",
]

REFRESH_SCOPE = "openid read:orders"
REFRESH_BODY_PREFIX = "grant_type=refresh_token&refresh_token="
CLIENT_ID = "app-web-01"
PEER_SECRET = "bench-secret-refresh-0123456789abcdef0123456789"  # from server.mjs
REDIRECT_URI = "https://app.example.test/callback"
TENANT = "default"
_URL_SAFE = re.compile(r"[A-Za-z0-9_\-.~]+")  # goes into the form body unescaped


@dataclass(frozen=True)
class Refresher:
    """Who refreshes at one server, and how to get ``n`` fresh chains there."""

    client: Credentials
    seed: Callable[[int], list[str]]


def _checked(tokens: list[str], n: int, server: str) -> list[str]:
    if len(tokens) != n or not all(_URL_SAFE.fullmatch(t) for t in tokens):
        msg = f"{server}: seeding {n} refresh tokens gave {len(tokens)} usable ones"
        raise RuntimeError(msg)
    return tokens


# ------------------------------------------------------------------------------ peer


def peer_refresher(seed_port: int) -> Refresher:
    def seed(n: int) -> list[str]:
        request = urllib.request.Request(f"http://127.0.0.1:{seed_port}/seed?n={n}", method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            tokens: list[str] = json.load(answer)["refresh_tokens"]
        return _checked(tokens, n, "peer")

    return Refresher(Credentials(CLIENT_ID, PEER_SECRET), seed)


# --------------------------------------------------------------------------- tessera


def _database_url(th: TesseraHome) -> str:
    from tessera.config import Settings  # noqa: PLC0415 - the bench runs without it too

    # model_validate, not Settings(): only the bench's home, not this process's TESSERA_*.
    return Settings.model_validate({"home": th.home}).resolved_database_url


async def _register(url: str, client_id: str) -> str:
    """Make ``client_id`` a web client of the user flows; add one user; return its id."""
    import argon2  # noqa: PLC0415

    from tessera.storage.sql import open_store  # noqa: PLC0415
    from tessera.storage.user_records import User  # noqa: PLC0415

    store = await open_store(url)
    try:
        client = await store.get_client(TENANT, client_id)
        if client is None:
            msg = f"tessera: client {client_id} was not registered"
            raise RuntimeError(msg)
        await store.replace_client(
            dataclasses.replace(
                client,
                grant_types=frozenset({"authorization_code", "refresh_token"}),
                metadata={**client.metadata, "redirect_uris": [REDIRECT_URI], "first_party": True},
            )
        )
        now = time.time()
        # Never verified here (the login is timed apart): a cheap hash is enough.
        cheap = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
        user = User(
            tenant_id=TENANT,
            user_id=uuid.uuid4().hex,
            email="bench-user@example.test",
            password_hash=cheap.hash(secrets.token_urlsafe(16)),
            name="Bench User",
            created_at=now,
            updated_at=now,
        )
        await store.add_user(user)
        return user.user_id
    finally:
        await store.close()


async def _one_chain(store: SqlStore, client_id: str, user_id: str, now: float) -> str:
    from tessera.server.grants.user_tokens import new_refresh_value, refresh_hash  # noqa: PLC0415
    from tessera.server.issuance import opaque_hash  # noqa: PLC0415
    from tessera.storage.user_records import (  # noqa: PLC0415
        AuthorizationCode,
        FamilyToken,
        RefreshFamily,
        RefreshToken,
    )

    family_id = uuid.uuid4().hex
    code_hash = opaque_hash(secrets.token_urlsafe(32))
    value = new_refresh_value()  # trt_ + 256 random bits, as the code grant issues it
    await store.add_code(
        AuthorizationCode(
            code_hash=code_hash,
            tenant_id=TENANT,
            client_id=client_id,
            user_id=user_id,
            session_id=None,
            redirect_uri=REDIRECT_URI,
            scope=REFRESH_SCOPE,
            audience=API,
            code_challenge=secrets.token_urlsafe(32),
            nonce=None,
            auth_time=now,
            family_id=family_id,
            issued_at=now,
            expires_at=now + 60,
        )
    )
    family = RefreshFamily(
        family_id=family_id,
        tenant_id=TENANT,
        client_id=client_id,
        user_id=user_id,
        session_id=None,
        scope=REFRESH_SCOPE,
        audience=API,
        auth_time=now,
        created_at=now,
        expires_at=now + 30 * 86400,
    )
    first = RefreshToken(
        token_hash=refresh_hash(value),
        family_id=family_id,
        tenant_id=TENANT,
        client_id=client_id,
        generation=0,
        scope=REFRESH_SCOPE,
        issued_at=now,
        expires_at=now + 8 * 3600,
    )
    access = FamilyToken(family_id, TENANT, uuid.uuid4().hex, now + 300)
    if not await store.redeem_code(code_hash, now=now, family=family, first=first, access=access):
        msg = "tessera: a fresh authorization code did not redeem"
        raise RuntimeError(msg)
    return value


async def _seed(url: str, client_id: str, user_id: str, n: int) -> list[str]:
    from tessera.storage.sql import open_store  # noqa: PLC0415

    store = await open_store(url)
    try:
        now = time.time()
        return [await _one_chain(store, client_id, user_id, now) for _ in range(n)]
    finally:
        await store.close()


def tessera_refresher(th: TesseraHome) -> Refresher:
    """Register ``app-web-01`` and a user in ``th`` (once), before any server has read it."""
    creds = add_client(th.env, CLIENT_ID, "--scope", REFRESH_SCOPE, "--audience", API)
    url = _database_url(th)
    user_id = asyncio.run(_register(url, CLIENT_ID))

    def seed(n: int) -> list[str]:
        return _checked(asyncio.run(_seed(url, CLIENT_ID, user_id, n)), n, "tessera")

    return Refresher(creds, seed)
