"""A FastAPI service protected by Tessera in a few lines.

Run it against a local authorization server (``./run`` in another terminal)::

    TESSERA_ISSUER=http://127.0.0.1:8800/t/default \\
    TESSERA_AUDIENCE=https://api.example.test \\
    .venv/bin/uvicorn examples.protected_api.app:create_app --factory --port 8900

then call it with a token from ``/token`` (see the README's quick start)::

    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8900/reports
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI

from tessera.jose.claims import Claims
from tessera.verify import BearerAuthMiddleware, Verifier
from tessera.verify.fastapi import require_scopes, require_token


def build_api() -> FastAPI:
    api = FastAPI(title="reports")

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/me")
    async def me(claims: Annotated[Claims, Depends(require_token())]) -> dict[str, Any]:
        # Claims are hints: who the caller claims to be. Authorize against your own data.
        return {"sub": claims.subject, "client_id": claims.client_id, "scope": sorted(claims.scope)}

    @api.get("/reports")
    async def reports(
        claims: Annotated[Claims, Depends(require_scopes("data:read"))],
    ) -> dict[str, Any]:
        return {"tenant": claims.tenant_id, "reports": [{"id": 1, "title": "Q4"}]}

    return api


def create_app(issuer: str | None = None, audience: str | None = None) -> Any:
    """The ASGI app: discovery and JWKS happen once at start-up, then every request is local."""
    issuer = issuer or os.environ["TESSERA_ISSUER"]
    audience = audience or os.environ["TESSERA_AUDIENCE"]
    api = build_api()
    guarded: dict[str, BearerAuthMiddleware] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        verifier = await Verifier.from_issuer(issuer, audience=audience, algorithms=["ES256"])
        guarded["app"] = BearerAuthMiddleware(api, verifier, public_paths=["/healthz"])
        yield

    api.router.lifespan_context = lifespan

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await api(scope, receive, send)
        else:
            await guarded["app"](scope, receive, send)

    return app
