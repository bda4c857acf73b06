"""``python -m examples.data_api``: migrate, generate a dataset, serve the API.

Options may also come from the environment (``DATA_API_DATABASE_URL``, …), which keeps a
password out of the process list. Messages never print a URL's password.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Coroutine
from datetime import date
from pathlib import Path
from typing import Annotated, Any, NoReturn

import asyncpg
import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy.exc import SQLAlchemyError

from examples.data_api.dataset import DEFAULT_TENANTS, DatasetSpec
from examples.data_api.loader import InvalidMember, Member, check_tenant, load
from examples.data_api.migrate import DEFAULT_API_ROLE, upgrade
from examples.data_api.settings import DEFAULT_POLICIES, InvalidSettings, Settings
from examples.data_api.urls import DatabaseUrl, InvalidDatabaseUrl
from tessera.errors import ConfigurationError, TesseraError

__all__ = ["app"]

app = typer.Typer(
    help="The Tessera data API example: a dataset, and an API that re-authorizes every request.",
    no_args_is_help=True,
    add_completion=False,
)
_out = Console()
_err = Console(stderr=True, soft_wrap=True)  # messages carry paths: never wrap them

DatabaseOption = Annotated[
    str,
    typer.Option(
        "--database",
        envvar="DATA_API_DATABASE_URL",
        help="postgresql://user@host/db or sqlite:///path.db",
        show_default=False,
    ),
]
ApiRoleOption = Annotated[
    str,
    typer.Option(help="PostgreSQL: the confined LOGIN role the API connects as."),
]


def _fail(message: str) -> NoReturn:
    _err.print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(code=2)


def _run(work: Coroutine[Any, Any, None], what: str) -> None:
    """Run database work; a failure is one line naming its kind (never a URL or a value)."""
    try:
        asyncio.run(work)
    except ValueError as exc:
        _fail(str(exc))
    except (OSError, SQLAlchemyError, asyncpg.PostgresError, sqlite3.Error) as exc:
        # SQLAlchemy wraps the driver's error (twice, for asyncpg): the innermost class,
        # e.g. InvalidCatalogNameError, says what is wrong.
        cause: BaseException = exc
        while cause.__cause__ is not None:
            cause = cause.__cause__
        _fail(f"cannot {what}: {type(cause).__name__}")


def _database(raw: str) -> DatabaseUrl:
    try:
        return DatabaseUrl.parse(raw)
    except InvalidDatabaseUrl as exc:
        _fail(f"--database: {exc}")


@app.command()
def migrate(database: DatabaseOption, api_role: ApiRoleOption = DEFAULT_API_ROLE) -> None:
    """Create or update the tables (as the database administrator; idempotent)."""
    url = _database(database)
    _run(upgrade(url, api_role=api_role), "migrate")
    _out.print(f"schema up to date at {url}", markup=False, highlight=False)


@app.command()
def generate(
    database: DatabaseOption,
    rows: Annotated[int, typer.Option(min=0, max=100_000_000, help="Events to generate.")],
    tenants: Annotated[
        str, typer.Option(help="Comma-separated tenant ids; shares fall off as 1/rank.")
    ] = ",".join(DEFAULT_TENANTS),
    member: Annotated[
        list[str] | None,
        typer.Option(
            help="TENANT:SUBJECT:ROLE[,ROLE] (repeatable); roles: viewer, analyst, admin.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same rows.")] = 7,
    start: Annotated[str, typer.Option(help="First day (YYYY-MM-DD, UTC).")] = "2025-01-01",
    days: Annotated[int, typer.Option(min=1, max=3660, help="Days covered.")] = 365,
    replace: Annotated[
        bool, typer.Option("--replace/--append", help="Drop existing events first.")
    ] = True,
    api_role: ApiRoleOption = DEFAULT_API_ROLE,
) -> None:
    """Migrate, then write tenants, memberships and a realistic event dataset."""
    url = _database(database)
    try:
        members = [Member.parse(m) for m in member or []]
        names = tuple(check_tenant(t.strip()) for t in tenants.split(",") if t.strip())
        spec = DatasetSpec(rows=rows, tenants=names, seed=seed, start=date.fromisoformat(start),
                           days=days)  # fmt: skip
    except (InvalidMember, ValueError) as exc:
        _fail(str(exc))
    _run(upgrade(url, api_role=api_role), "migrate")
    began = time.perf_counter()
    with Progress(
        TextColumn("[bold]events"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=_out,
    ) as progress:
        task = progress.add_task("events", total=rows)
        _run(
            load(url, spec, members, replace=replace,
                 on_rows=lambda n: progress.advance(task, n)),
            "load the dataset",
        )  # fmt: skip
    elapsed = time.perf_counter() - began
    rate = rows / elapsed if elapsed > 0 else 0.0
    _out.print(
        f"{rows:,} events for {len(spec.tenants)} tenants, {len(members)} memberships "
        f"in {elapsed:.1f} s ({rate:,.0f} rows/s)",
        markup=False,
        highlight=False,
    )


@app.command()
def serve(
    database: DatabaseOption,
    issuer: Annotated[str, typer.Option(envvar="DATA_API_ISSUER", help="The exact token issuer.")],
    audience: Annotated[
        str, typer.Option(envvar="DATA_API_AUDIENCE", help="This API's identifier (aud).")
    ],
    redis_url: Annotated[
        str | None,
        typer.Option(envvar="DATA_API_REDIS_URL", help="Follow the issuer's revocation feed."),
    ] = None,
    policies: Annotated[
        Path, typer.Option(help="Directory of *.cedar files and schema.cedarschema.")
    ] = DEFAULT_POLICIES,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8901,
    membership_ttl: Annotated[
        float, typer.Option(help="Seconds a membership answer is cached.")
    ] = 5.0,
    jwks: Annotated[
        Path | None,
        typer.Option(help="Trust this JWKS file instead of the issuer's (offline runs, tests)."),
    ] = None,
    log_level: Annotated[str, typer.Option()] = "info",
) -> None:
    """Serve the API (uvicorn). Refuses to start on a bad policy or an unconfined DB role."""
    import uvicorn  # noqa: PLC0415 - only this command needs the server

    from examples.data_api.app import create_app  # noqa: PLC0415 - as above
    from tessera.logging import configure_logging  # noqa: PLC0415 - as above

    url = _database(database)
    try:
        keys = orjson.loads(jwks.read_bytes()) if jwks is not None else None
    except (OSError, orjson.JSONDecodeError):
        _fail("--jwks: cannot read a JSON document from that file")
    try:
        settings = Settings(
            database=url,
            issuer=issuer,
            audience=audience,
            redis_url=redis_url,
            policies=policies,
            jwks=keys,
            membership_ttl=membership_ttl,
        )
    except InvalidSettings as exc:
        _fail(str(exc))
    try:
        api = create_app(settings)
    except ConfigurationError as exc:
        _fail(f"the policies do not validate; not starting.\n{exc.message}")
    try:
        asyncio.run(_preflight(settings))
    except ConfigurationError as exc:
        _fail(f"refusing to start: {exc.message}{_hint(exc)}")
    except OSError as exc:
        _fail(f"cannot reach the database: {type(exc).__name__}")
    except TesseraError as exc:
        _fail(f"cannot use the issuer's metadata and keys: {exc.message}")
    configure_logging(log_level)
    uvicorn.run(api, host=host, port=port, log_level=log_level, lifespan="on")


def _hint(exc: ConfigurationError) -> str:
    reason = exc.fields.get("reason")
    if reason in {"superuser", "bypassrls", "owner"}:
        return (
            " (connect as the confined role the migration created, e.g. "
            f"postgresql://{DEFAULT_API_ROLE}@host/db, never as the owner or a superuser)"
        )
    if reason in {"missing_table", "rls_not_forced"}:
        return " (run `python -m examples.data_api migrate` as the database administrator)"
    return ""


async def _preflight(settings: Settings) -> None:
    """Fail before serving, with a message: the database is reachable and, on PostgreSQL,
    RLS binds the role; the issuer publishes its metadata and keys. (The app's start-up
    checks all this again; uvicorn would report a failure there as a traceback.)"""
    from examples.data_api.store import open_store  # noqa: PLC0415
    from tessera.verify import Verifier  # noqa: PLC0415

    try:
        store = await open_store(settings.database, pool_size=1)
    except asyncpg.PostgresError as exc:
        raise ConfigurationError(f"the database refused: {type(exc).__name__}") from None
    await store.close()
    if settings.jwks is None:
        await Verifier.from_issuer(
            settings.issuer, audience=settings.audience, algorithms=settings.algorithms
        )
