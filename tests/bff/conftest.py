"""BFF fixtures: the authorization server, a protected upstream API and the BFF, all
in-process (httpx ASGI transports routed by origin), with a fake clock they share."""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "server"))

from _flow import add_user, add_web_client
from harness import PUBLIC_URL, FakeClock, Harness, make_settings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tessera.bff.app import build_bff_app
from tessera.bff.config import BffSettings
from tessera.bff.session_store import TokenSealer, open_session_store
from tessera.jose.b64 import b64url_encode
from tessera.server.app import build_app, make_context
from tessera.storage.records import Tenant
from tessera.verify import Verifier

BFF = "https://bff.example.test"
UPSTREAM = "http://127.0.0.1:9001"
AUDIENCE = "https://api.example.test"
PASSWORD = "correct horse battery staple"


@dataclass
class Upstream:
    """A resource server: verifies the bearer token itself, counts calls."""

    verifier: Verifier | None = None
    calls: int = 0
    last_authorization: str | None = None
    last_headers: dict[str, str] | None = None
    tokens_seen: set[str] | None = None

    def app(self, clock: FakeClock) -> Starlette:
        async def me(request: Request) -> Response:
            self.calls += 1
            header = request.headers.get("authorization", "")
            self.last_authorization = header
            self.last_headers = dict(request.headers)
            token = header.removeprefix("Bearer ")
            assert self.verifier is not None
            try:
                claims = self.verifier.verify(token, now=clock.now)
            except Exception:  # noqa: BLE001 - any refusal is a 401 here
                return JSONResponse({"error": "invalid_token"}, 401)
            if self.tokens_seen is not None:
                self.tokens_seen.add(token)
            body = (await request.body()).decode()
            return JSONResponse(
                {"sub": claims.subject, "method": request.method, "body": body},
                headers={"set-cookie": "upstream=1; Path=/"},
            )

        async def big(request: Request) -> Response:
            async def chunks():
                for i in range(2000):
                    yield (f"{i:08d}" * 128 + "\n").encode()

            return StreamingResponse(chunks(), media_type="text/plain")

        return Starlette(
            routes=[
                Route("/me", me, methods=["GET", "POST", "PUT", "DELETE"]),
                Route("/big", big, methods=["GET"]),
            ]
        )


@dataclass
class Env:
    server: Harness
    browser: httpx.AsyncClient
    upstream: Upstream
    clock: FakeClock
    settings: BffSettings
    app: Any

    async def login(
        self, email: str = "ada@example.test", password: str = PASSWORD
    ) -> httpx.Response:
        """The browser leg: /bff/login → AS login page → callback → back on the BFF."""
        start = await self.browser.get(f"{BFF}/bff/login?return_to=/app")
        assert start.status_code == 303, start.text
        first = await self.browser.get(start.headers["location"])
        assert first.status_code == 303, first.text
        if first.headers["location"].startswith(f"{BFF}/bff/callback"):
            return await self.browser.get(first.headers["location"])  # still logged in at the AS
        page = await self.browser.get(first.headers["location"])
        fields = dict(re.findall(r'name="(interaction|csrf)" value="([^"]*)"', page.text))
        done = await self.browser.post(
            f"{PUBLIC_URL}/t/default/login",
            data={**fields, "email": email, "password": password},
        )
        assert done.status_code == 303, done.text[:300]
        return await self.browser.get(done.headers["location"])

    async def session(self) -> dict[str, Any]:
        response = await self.browser.get(f"{BFF}/bff/session")
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
async def env(store, tmp_path, secret_registry) -> AsyncIterator[Env]:
    clock = FakeClock()
    ctx = make_context(make_settings(tmp_path), store, clock=clock, client_cache_ttl=0.0)
    await store.add_tenant(Tenant("default", "Default", clock.now))
    await ctx.keys.ensure("default", clock.now)
    as_app = build_app(ctx, background=False)
    upstream = Upstream()
    transports = {
        PUBLIC_URL: httpx.ASGITransport(app=as_app),
        UPSTREAM: httpx.ASGITransport(app=upstream.app(clock)),
    }
    async with httpx.AsyncClient(transport=transports[PUBLIC_URL], base_url=PUBLIC_URL) as admin:
        h = Harness(ctx=ctx, http=admin, clock=clock, remember=secret_registry)
        await add_user(h)
        secret = await add_web_client(
            h,
            "bff",
            redirect_uris=(f"{BFF}/bff/callback",),
            post_logout=(f"{BFF}/",),
            audiences=(AUDIENCE,),
        )
        assert secret is not None
        settings = BffSettings(
            issuer=f"{PUBLIC_URL}/t/default",
            client_id="bff",
            client_secret=secret,
            public_url=BFF,
            scope="openid data:read",
            upstreams={"data": UPSTREAM},
            home=tmp_path / "bff",
            session_key=b64url_encode(bytes(range(32))),
        )
        backend = httpx.AsyncClient(mounts={f"{k}": v for k, v in transports.items()})
        bff_store = open_session_store(
            str(tmp_path / "bff" / "sessions.db"), TokenSealer(bytes(range(32)))
        )
        app = build_bff_app(settings, http=backend, store=bff_store, clock=clock)
        jwks = (await admin.get("/t/default/jwks.json")).json()
        upstream.verifier = Verifier(
            issuer=f"{PUBLIC_URL}/t/default", audience=AUDIENCE, algorithms=["ES256"], keys=jwks
        )
        mounts = {**transports, BFF: httpx.ASGITransport(app=app)}
        async with app.router.lifespan_context(app), httpx.AsyncClient(mounts=mounts) as browser:
            yield Env(h, browser, upstream, clock, settings, app)
        await backend.aclose()
        await bff_store.close()
