"""The ASGI application: routes, and a lifespan that owns the store and the background work.

``create_app(settings)`` is what ``tessera serve`` runs (uvicorn, one or more workers);
``build_app(ctx)`` takes a ready context (tests, embedding). The background task applies the
key-rotation plan for every tenant and purges expired revocations and opaque tokens; with
several processes, leases in the database make one of them do each piece of work.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Callable

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tessera.config import Settings, load_settings
from tessera.events.bus import EventBus, InProcessBus
from tessera.events.redis_bus import RedisEventBus
from tessera.keys.manager import KeyManager
from tessera.keys.schedule import MAX_ACCESS_TOKEN_TTL, RotationPolicy
from tessera.keys.sealing import KeyEncryptionKey, load_or_create_secret_file
from tessera.logging import Audit, configure_logging
from tessera.secret import Secret
from tessera.server.client_secrets import SecretHasher
from tessera.server.context import ServerContext
from tessera.server.directory import Directory
from tessera.server.endpoints.authorize import authorize_endpoint
from tessera.server.endpoints.introspection import introspection_endpoint
from tessera.server.endpoints.login import consent_endpoint, login_endpoint
from tessera.server.endpoints.logout import logout_endpoint
from tessera.server.endpoints.metadata import jwks_endpoint, metadata_endpoint
from tessera.server.endpoints.par import par_endpoint
from tessera.server.endpoints.revocation import revocation_endpoint
from tessera.server.endpoints.token import token_endpoint
from tessera.server.endpoints.userinfo import userinfo_endpoint
from tessera.server.issuance import TokenIssuer
from tessera.server.pages import Pages
from tessera.server.passwords import PasswordHasher
from tessera.server.responses import json_response
from tessera.server.server_keys import ServerKeys
from tessera.server.throttle import make_throttle
from tessera.storage.protocols import Store
from tessera.storage.sql import open_store

__all__ = ["build_app", "create_app", "make_context", "rotation_policy"]

_log = structlog.get_logger("tessera.server")


def rotation_policy(settings: Settings) -> RotationPolicy:
    return RotationPolicy(
        rotation_period=settings.key_rotation_days * 86400,
        publish_lead=settings.key_publish_lead,
        # Retention covers the longest token any client may get, not only the defaults.
        token_lifetime=MAX_ACCESS_TOKEN_TTL,
        skew=settings.clock_skew,
        jwks_max_age=settings.jwks_max_age,
        refresh_interval=settings.key_refresh_interval,
    )


def load_kek(settings: Settings) -> KeyEncryptionKey:
    if settings.kek:
        return KeyEncryptionKey.from_text(settings.kek)
    return KeyEncryptionKey(load_or_create_secret_file(settings.home / "kek"))


def load_pepper(settings: Settings) -> Secret:
    if settings.pepper:
        return Secret(settings.pepper.encode())
    return load_or_create_secret_file(settings.home / "pepper")


def make_context(
    settings: Settings,
    store: Store,
    *,
    clock: Callable[[], float] = time.time,
    bus: EventBus | None = None,
    client_cache_ttl: float | None = None,
) -> ServerContext:
    audit = Audit()
    pepper = load_pepper(settings)
    keys = KeyManager(
        store,
        load_kek(settings),
        rotation_policy(settings),
        alg=settings.signing_alg,
        refresh_interval=settings.key_refresh_interval,
        audit=audit,
    )
    return ServerContext(
        settings=settings,
        store=store,
        keys=keys,
        directory=Directory(
            store,
            ttl=settings.client_cache_ttl if client_cache_ttl is None else client_cache_ttl,
            clock=clock,
        ),
        hasher=SecretHasher(pepper),
        tokens=TokenIssuer(keys, store),
        server_keys=ServerKeys(pepper),
        pages=Pages(),
        passwords=PasswordHasher.from_settings(settings),
        throttle=make_throttle(settings, settings.redis_url),
        bus=bus if bus is not None else _default_bus(settings),
        audit=audit,
        clock=clock,
    )


def _default_bus(settings: Settings) -> EventBus:
    if settings.redis_url:
        return RedisEventBus(settings.redis_url)
    return InProcessBus()


async def _heartbeat_loop(bus: RedisEventBus, interval: float) -> None:
    while True:
        try:
            await bus.heartbeat()
        except Exception:  # noqa: BLE001 - Redis down: verifiers will see the silence
            _log.warning("revocation feed heartbeat failed")
        await asyncio.sleep(interval)


async def maintain(ctx: ServerContext) -> None:
    """One round of background work: rotation for every tenant, then purges."""
    now = ctx.clock()
    for tenant in await ctx.store.list_tenants():
        await ctx.keys.ensure(tenant.id, now)
    if await ctx.store.try_lease("purge", ctx.keys.holder, now=now, ttl=60.0):
        await ctx.store.purge_revocations(now)
        await ctx.store.purge_opaque(now)
        await ctx.store.purge_sessions(now)
        await ctx.store.purge_authorization(now)
        await ctx.store.purge_refresh(now)


async def _maintenance_loop(ctx: ServerContext, interval: float) -> None:
    while True:
        try:
            await maintain(ctx)
        except Exception:  # noqa: BLE001 - keep serving; the next round retries
            _log.exception("background maintenance failed")
        await asyncio.sleep(interval)


async def _http_error(_request: Request, exc: Exception) -> Response:
    """Routing errors in the same JSON shape as every other error (no HTML, no-store)."""
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    description = "method not allowed" if status == 405 else "not found"
    headers = exc.headers if isinstance(exc, HTTPException) and exc.headers else {}
    return json_response(
        {"error": "invalid_request", "error_description": description}, status, dict(headers)
    )


async def _stylesheet(request: Request) -> Response:
    ctx: ServerContext = request.app.state.ctx
    return await ctx.pages.stylesheet_endpoint(request)


async def healthz(_request: Request) -> Response:
    return Response("ok", media_type="text/plain")


def build_app(
    ctx: ServerContext | None = None,
    *,
    settings: Settings | None = None,
    background: bool = True,
) -> Starlette:
    """The app; with ``ctx`` None the lifespan opens the store named by ``settings``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own_store: Store | None = None
        context = ctx
        if context is None:
            assert settings is not None  # noqa: S101 - guaranteed by create_app
            own_store = await open_store(settings.resolved_database_url)
            context = make_context(settings, own_store)
        app.state.ctx = context
        # Everything allocated so far lives as long as the process: keep it out of every
        # future full collection (they otherwise pause requests for tens of milliseconds).
        gc.collect()
        gc.freeze()
        tasks = []
        if background:
            interval = min(context.settings.key_refresh_interval, 60.0)
            tasks.append(asyncio.create_task(_maintenance_loop(context, interval)))
            if isinstance(context.bus, RedisEventBus):
                beat = context.settings.heartbeat_interval
                tasks.append(asyncio.create_task(_heartbeat_loop(context.bus, beat)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if own_store is not None:
                await context.throttle.aclose()
                if isinstance(context.bus, RedisEventBus):
                    await context.bus.close()
                await own_store.close()

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/t/{tenant}/.well-known/openid-configuration", metadata_endpoint, methods=["GET"]),
        Route(
            "/.well-known/oauth-authorization-server/t/{tenant}",
            metadata_endpoint,
            methods=["GET"],
        ),
        Route("/t/{tenant}/jwks.json", jwks_endpoint, methods=["GET"]),
        Route("/t/{tenant}/token", token_endpoint, methods=["POST"]),
        Route("/t/{tenant}/introspect", introspection_endpoint, methods=["POST"]),
        Route("/t/{tenant}/revoke", revocation_endpoint, methods=["POST"]),
        Route("/t/{tenant}/authorize", authorize_endpoint, methods=["GET", "POST"]),
        Route("/t/{tenant}/par", par_endpoint, methods=["POST"]),
        Route("/t/{tenant}/login", login_endpoint, methods=["GET", "POST"]),
        Route("/t/{tenant}/consent", consent_endpoint, methods=["GET", "POST"]),
        Route("/t/{tenant}/userinfo", userinfo_endpoint, methods=["GET", "POST"]),
        Route("/t/{tenant}/logout", logout_endpoint, methods=["GET", "POST"]),
        Route("/assets/tessera.css", _stylesheet, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: _http_error, 405: _http_error},
    )
    if ctx is not None:
        app.state.ctx = ctx
    return app


def create_app(settings: Settings | None = None) -> Starlette:
    """Factory for uvicorn (``--factory``): settings from the environment by default."""
    resolved = settings if settings is not None else load_settings()
    configure_logging(resolved.log_level, background=True)
    return build_app(settings=resolved)
