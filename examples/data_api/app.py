"""``create_app(settings)``: the data API as an ASGI app (uvicorn, or httpx in tests).

Layers, outermost first:

1. :class:`~tessera.verify.BearerAuthMiddleware` with a :class:`~tessera.verify.Verifier`
   pinned to the issuer (ES256) and, with ``redis_url``, following its revocation feed;
2. ``authorize(action, resource)`` per endpoint: the token's tenant is a hint, confirmed
   against ``memberships`` (cached a few seconds, dropped on membership changes and
   revocations), then scopes → actions, then the Cedar policies in ``settings.policies``;
3. every query in a transaction scoped to the VERIFIED tenant (PostgreSQL row-level
   security as a confined role; SQLite tenant views).

Policies are read and validated here, before anything starts: a bad policy file raises
``ConfigurationError`` naming the file, the policy and Cedar's error.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from examples.data_api.filters import BadRequest
from examples.data_api.membership_events import MembershipListener
from examples.data_api.routes import router
from examples.data_api.runtime import RUNTIME_STATE, Runtime
from examples.data_api.settings import Settings
from examples.data_api.store import open_store
from examples.data_api.store_postgres import PostgresStore
from tessera.authz import MembershipCache, ScopeMap
from tessera.authz.fastapi import AUTHORIZER_STATE
from tessera.authz.guard import Authorizer
from tessera.authz.policy import PolicyEngine
from tessera.errors import ConfigurationError, NotAMember, TokenError
from tessera.jose.claims import Claims
from tessera.verify import BearerAuthMiddleware, RedisRevocationSubscriber, RevocationFeed, Verifier

__all__ = ["SCOPES", "create_app", "load_policies"]

SCOPES: dict[str, set[str]] = {
    "data:read": {"data.list", "data.aggregate"},
    "data:export": {"data.export"},
    "data:admin": {"members.manage"},
}
SCHEMA_FILE = "schema.cedarschema"
_CONNECT_WAIT = 10.0
_log = structlog.get_logger("examples.data_api")


def load_policies(directory: Path, scope_map: ScopeMap) -> PolicyEngine:
    """The directory's ``*.cedar`` files validated against its schema, or ConfigurationError."""
    files = sorted(directory.glob("*.cedar"))
    if not files:
        raise ConfigurationError(f"{directory}: no *.cedar policy files")
    return PolicyEngine.from_files(files, directory / SCHEMA_FILE, actions=scope_map.actions)


class _StartedVerifier:
    """The middleware's verifier, known once the lifespan has discovered the issuer.

    uvicorn serves no request before the lifespan's start-up completes; a request that
    arrives anyway (an ASGI host that skips the lifespan) is refused, never let through.
    """

    def __init__(self) -> None:
        self._verifier: Verifier | None = None
        self._cache_size = 0

    def set(self, verifier: Verifier | None) -> None:
        self._verifier = verifier
        if verifier is not None and self._cache_size:
            verifier.enable_cache(self._cache_size)

    def enable_cache(self, size: int) -> None:
        self._cache_size = size
        if self._verifier is not None:
            self._verifier.enable_cache(size)

    async def verify_async(self, token: str, *, now: float | None = None) -> Claims:
        if self._verifier is None:
            raise TokenError("the service is not started")
        return await self._verifier.verify_async(token, now=now)


async def _until(condition: Callable[[], bool], limit: float) -> bool:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def _follow_revocations(
    settings: Settings, cache: MembershipCache, stack: AsyncExitStack
) -> RevocationFeed:
    feed = RevocationFeed(max_staleness=settings.revocation_max_staleness)
    # A revocation often travels with a membership change: stop vouching for that tenant.
    feed.on_revoked(cache.on_revocation)
    subscriber = RedisRevocationSubscriber(settings.redis_url or "", feed)
    subscriber.start()
    stack.push_async_callback(subscriber.stop)
    if not await _until(lambda: subscriber.connected, _CONNECT_WAIT):
        # Not fatal: the feed fails closed (every token refused) until Redis answers.
        _log.warning("revocation feed not connected yet; refusing tokens until it is")
    return feed


async def _verifier(settings: Settings, feed: RevocationFeed | None) -> Verifier:
    options: dict[str, Any] = {"revocation": feed, "cache_size": 10_000}
    if settings.jwks is not None:
        return Verifier(
            issuer=settings.issuer,
            audience=settings.audience,
            algorithms=settings.algorithms,
            keys=settings.jwks,
            **options,
        )
    return await Verifier.from_issuer(
        settings.issuer, audience=settings.audience, algorithms=settings.algorithms, **options
    )


def _error(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    headers = {"Cache-Control": "no-store", **(headers or {})}
    return JSONResponse(body, status_code=status, headers=headers)


def _install_error_handlers(api: FastAPI) -> None:
    """Every refusal is JSON; bad input is 400, never 500; no handler echoes a value sent."""

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)  # noqa: S101 - registered for this type only
        # FastAPI's HTTPException carries any JSON as detail; Tessera's dependencies use a
        # dict, which becomes the body. Starlette's own (404, 405) carry a phrase.
        detail: object = exc.detail
        if not isinstance(detail, dict):
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
            detail = {"error": code, "error_description": str(detail)}
        return _error(exc.status_code, detail, dict(exc.headers or {}))

    async def invalid_params(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)  # noqa: S101 - as above
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        # Pydantic's `msg` states the rule ("Input should be less than or equal to 1000");
        # its `input` (the value sent) is left out.
        message = f"{where}: {first.get('msg', 'invalid')}"
        return _error(400, {"error": "invalid_request", "error_description": message})

    async def bad_request(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, BadRequest)  # noqa: S101 - as above
        return _error(400, {"error": "invalid_request", "error_description": exc.message})

    async def not_a_member(_request: Request, _exc: Exception) -> JSONResponse:
        return _error(403, {"error": "access_denied", "reason": "not_a_member"})

    async def unavailable(_request: Request, exc: Exception) -> JSONResponse:
        _log.error("database unavailable", error=type(exc).__name__)
        return _error(503, {"error": "temporarily_unavailable"}, {"Retry-After": "1"})

    async def server_error(_request: Request, exc: Exception) -> JSONResponse:
        _log.error("unhandled error", error=type(exc).__name__)
        return _error(500, {"error": "server_error"})

    api.add_exception_handler(HTTPException, http_error)
    api.add_exception_handler(RequestValidationError, invalid_params)
    api.add_exception_handler(BadRequest, bad_request)
    api.add_exception_handler(NotAMember, not_a_member)
    for database_error in (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        sqlite3.Error,
        OSError,
        TimeoutError,
    ):
        api.add_exception_handler(database_error, unavailable)
    api.add_exception_handler(Exception, server_error)


def create_app(settings: Settings) -> FastAPI:
    """The app; raises ``ConfigurationError`` at once for a policy that fails validation."""
    scope_map = ScopeMap(SCOPES)
    policies = load_policies(settings.policies, scope_map)
    started = _StartedVerifier()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            store = await open_store(settings.database, pool_size=settings.pool_size)
            stack.push_async_callback(store.close)
            memberships = MembershipCache(store, ttl=settings.membership_ttl)
            feed = None
            if settings.redis_url is not None:
                feed = await _follow_revocations(settings, memberships, stack)
            started.set(await _verifier(settings, feed))
            stack.callback(started.set, None)
            if isinstance(store, PostgresStore):
                listener = MembershipListener(store.dsn, memberships)
                listener.start()
                stack.push_async_callback(listener.stop)
                if not await _until(listener.listening.is_set, _CONNECT_WAIT):
                    _log.warning("membership listener not connected; the TTL bounds staleness")
            authorizer = Authorizer(scope_map=scope_map, memberships=memberships, policies=policies)
            setattr(app.state, AUTHORIZER_STATE, authorizer)
            setattr(app.state, RUNTIME_STATE, Runtime(settings, store, memberships, feed))
            try:
                yield
            finally:
                setattr(app.state, RUNTIME_STATE, None)
                setattr(app.state, AUTHORIZER_STATE, None)

    api = FastAPI(
        title="Tessera data API example",
        lifespan=lifespan,
        # No public schema pages: every path but /healthz needs a token.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    api.add_middleware(BearerAuthMiddleware, verifier=started, public_paths=["/healthz"])
    _install_error_handlers(api)
    api.include_router(router)
    return api
