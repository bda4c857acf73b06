"""Test harness for the server: a real app over a real store, a fake clock, HTTP helpers.

``server`` gives an :class:`Harness`: the app behind an httpx ``ASGITransport`` (no network),
its :class:`ServerContext`, a clock the test moves, and helpers to register clients. Every
token and secret it sees is registered with the suite-wide log audit.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx

from tessera.config import Settings
from tessera.jose.b64 import b64url_encode
from tessera.server.client_secrets import generate_client_secret
from tessera.server.context import ServerContext
from tessera.storage.records import Client

PUBLIC_URL = "http://127.0.0.1:8800"
API = "https://api.example.test"
T0 = 1_800_000_000.0  # a fixed "now"; tests move it, never sleep


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Harness:
    ctx: ServerContext
    http: httpx.AsyncClient
    clock: FakeClock
    remember: Any
    secrets: dict[str, str] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return self.ctx.issuer("default")

    async def add_client(
        self,
        client_id: str,
        *,
        tenant: str = "default",
        scopes: str = "data:read data:write",
        audiences: tuple[str, ...] = (API,),
        auth: str = "client_secret_basic",
        token_format: str = "jwt",
        grants: frozenset[str] = frozenset({"client_credentials"}),
        introspect_for: tuple[str, ...] = (),
        disabled: bool = False,
    ) -> str:
        """Register a client; returns its secret (also kept in ``self.secrets``)."""
        secret = generate_client_secret().reveal_str()
        self.remember(secret)
        await self.ctx.store.add_client(
            Client(
                tenant_id=tenant,
                client_id=client_id,
                name=client_id,
                auth_method=auth,  # type: ignore[arg-type]
                secret_hash=self.ctx.hasher.hash(secret),
                grant_types=grants,
                scopes=frozenset(scopes.split()),
                audiences=audiences,
                token_format=token_format,  # type: ignore[arg-type]
                disabled=disabled,
                created_at=self.clock.now,
                updated_at=self.clock.now,
                metadata={"introspect_audiences": list(introspect_for)} if introspect_for else {},
            )
        )
        self.secrets[client_id] = secret
        return secret

    async def token(self, client_id: str, tenant: str = "default", **form: str) -> httpx.Response:
        """POST /token with client_secret_basic and grant_type=client_credentials."""
        data = {"grant_type": "client_credentials", **form}
        response = await self.http.post(
            f"/t/{tenant}/token", data=data, auth=(client_id, self.secrets[client_id])
        )
        if response.status_code == 200:
            self.remember(response.json()["access_token"])
        return response

    async def access_token(self, client_id: str, **form: str) -> str:
        response = await self.token(client_id, **form)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    async def introspect(self, caller: str, token: str, tenant: str = "default") -> dict[str, Any]:
        response = await self.http.post(
            f"/t/{tenant}/introspect", data={"token": token}, auth=(caller, self.secrets[caller])
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def revoke(self, caller: str, token: str, tenant: str = "default") -> httpx.Response:
        return await self.http.post(
            f"/t/{tenant}/revoke", data={"token": token}, auth=(caller, self.secrets[caller])
        )


def make_settings(tmp_path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": tmp_path / "home",
        "public_url": PUBLIC_URL,
        "kek": b64url_encode(secrets.token_bytes(32)),
        "pepper": secrets.token_urlsafe(32),
        # Cheap argon2id in tests; the defaults are measured by bench.server.
        "password_time_cost": 1,
        "password_memory_kib": 8192,
        "password_parallelism": 1,
        **overrides,
    }
    return Settings(**values)
