"""``tessera serve``, ``db``, ``tenants``, ``clients``, ``keys`` and ``tokens`` commands.

Each command reads settings at the edge (``--config`` TOML file, ``TESSERA_*`` environment,
flags), opens the store, does one thing and closes it. Listings take ``--json``. A new
client secret is printed exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from tessera.cli_common import (
    TENANT_PATTERN,
    ConfigOption,
    JsonOption,
    fail,
    print_rows,
    run_with_context,
    settings_from,
)
from tessera.errors import ConflictError, TesseraError
from tessera.logging import configure_logging

if TYPE_CHECKING:
    from tessera.config import Settings
    from tessera.server.context import ServerContext

__all__ = ["register"]

tenants_app = typer.Typer(help="Tenants (one issuer each).", no_args_is_help=True)
clients_app = typer.Typer(help="OAuth clients.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
tokens_app = typer.Typer(help="Tokens.", no_args_is_help=True)


# ------------------------------------------------------------------------------- serve


async def bootstrap(settings: Settings) -> list[str]:
    """First-start work, done once before any worker starts; returns the tenant ids.

    Embedded default: a missing SQLite file is created at the current schema. An existing
    database must already be at the current schema (``tessera db upgrade`` otherwise).
    """
    from tessera.server.app import make_context  # noqa: PLC0415
    from tessera.storage.migrate import upgrade  # noqa: PLC0415
    from tessera.storage.records import Tenant  # noqa: PLC0415
    from tessera.storage.sql import open_store  # noqa: PLC0415

    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    if settings.database_url is None and not (settings.home / "tessera.db").exists():
        await upgrade(settings.resolved_database_url)
    store = await open_store(settings.resolved_database_url)
    try:
        ctx = make_context(settings, store)
        now = time.time()
        tenants = await store.list_tenants()
        if not tenants:
            # Several processes may start at once on one empty PostgreSQL: one of them wins.
            with contextlib.suppress(ConflictError):
                await store.add_tenant(
                    Tenant(settings.default_tenant, settings.default_tenant, now)
                )
            tenants = await store.list_tenants()
        for tenant in tenants:
            await ctx.keys.ensure(tenant.id, now)
        return [t.id for t in tenants]
    finally:
        await store.close()


def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="TLS certificate (PEM).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    public_url: Annotated[str | None, typer.Option(help="Public base URL.")] = None,
) -> None:
    """Run the authorization server (embedded default: SQLite in ./.tessera, new keys)."""
    import uvicorn  # noqa: PLC0415

    overrides = {
        "host": host,
        "port": port,
        "workers": workers,
        "tls_cert": tls_cert,
        "tls_key": tls_key,
        "public_url": public_url,
    }
    if public_url is None and port is not None and "TESSERA_PUBLIC_URL" not in os.environ:
        scheme = "https" if tls_cert else "http"
        overrides["public_url"] = f"{scheme}://127.0.0.1:{port}"
    settings = settings_from(config, **overrides)
    configure_logging(settings.log_level)
    try:
        tenants = asyncio.run(bootstrap(settings))
    except TesseraError as exc:
        raise fail(exc.message) from None
    # Workers rebuild the same settings from the environment.
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"TESSERA_{name.upper()}"] = str(value)
    if config is not None:
        os.environ["TESSERA_CONFIG"] = str(config)
    console = Console(highlight=False)
    for tenant in tenants:
        console.print(f"issuer: [bold]{settings.issuer(tenant)}[/]")
    first = tenants[0]
    console.print(
        "add a client:  tessera clients add my-service --tenant "
        f"{first} --scope 'data:read' --audience https://api.example.test"
    )
    console.print(
        f"get a token:   curl -u my-service:SECRET -d grant_type=client_credentials "
        f"{settings.issuer(first)}/token"
    )
    uvicorn.run(
        "tessera.server.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        log_level="warning",
        access_log=False,
        server_header=False,
    )


# ---------------------------------------------------------------------------------- db


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Migrate the database to the schema this code needs (idempotent)."""
    from tessera.storage.migrate import upgrade  # noqa: PLC0415

    settings = settings_from(config)
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        revision = asyncio.run(upgrade(settings.resolved_database_url))
    except TesseraError as exc:
        raise fail(exc.message) from None
    typer.echo(f"database at revision {revision}")


# ----------------------------------------------------------------------------- tenants


@tenants_app.command("add")
def tenants_add(
    tenant_id: Annotated[str, typer.Argument(help="Tenant id: lowercase letters, digits, -.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    config: ConfigOption = None,
) -> None:
    """Add a tenant (its own issuer and signing keys)."""
    from tessera.storage.records import Tenant  # noqa: PLC0415

    if not TENANT_PATTERN.fullmatch(tenant_id):
        raise fail("tenant id must be lowercase letters, digits and '-', at most 63")
    settings = settings_from(config)

    async def action(ctx: ServerContext) -> None:
        now = time.time()
        await ctx.store.add_tenant(Tenant(tenant_id, name or tenant_id, now))
        await ctx.keys.ensure(tenant_id, now)

    run_with_context(settings, action)
    typer.echo(f"tenant {tenant_id} added; issuer {settings.issuer(tenant_id)}")


@tenants_app.command("list")
def tenants_list(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """List tenants."""
    settings = settings_from(config)

    async def action(ctx: ServerContext) -> list[dict[str, Any]]:
        return [
            {"id": t.id, "name": t.name, "issuer": settings.issuer(t.id)}
            for t in await ctx.store.list_tenants()
        ]

    print_rows(run_with_context(settings, action), as_json, "Tenants")


def register(app: typer.Typer, keys_app: typer.Typer) -> None:
    from tessera.cli_bff import bff  # noqa: PLC0415
    from tessera.cli_clients import clients_commands, keys_commands, tokens_commands  # noqa: PLC0415

    app.command()(serve)
    app.command()(bff)
    app.add_typer(db_app, name="db")
    app.add_typer(tenants_app, name="tenants")
    app.add_typer(clients_app, name="clients")
    app.add_typer(tokens_app, name="tokens")
    clients_commands(clients_app)
    keys_commands(keys_app)
    tokens_commands(tokens_app)
