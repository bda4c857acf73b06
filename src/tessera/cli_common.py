"""Helpers shared by the server-side CLI commands: settings at the edge, store lifetime."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from tessera.errors import ConfigurationError, TesseraError
from tessera.identifiers import CLIENT_ID, TENANT_ID

if TYPE_CHECKING:
    from tessera.config import Settings
    from tessera.server.context import ServerContext

__all__ = [
    "ID_PATTERN",
    "TENANT_PATTERN",
    "ConfigOption",
    "JsonOption",
    "TenantOption",
    "fail",
    "print_rows",
    "run_with_context",
    "settings_from",
]

T = TypeVar("T")
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML settings file.", envvar="TESSERA_CONFIG")
]
TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant id.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ID_PATTERN = CLIENT_ID
TENANT_PATTERN = TENANT_ID


def fail(message: str) -> typer.Exit:
    Console(stderr=True, highlight=False).print(f"[red]error:[/] {message}")
    return typer.Exit(1)


def settings_from(config: Path | None, **overrides: Any) -> Settings:
    from tessera.config import load_settings  # noqa: PLC0415 - keep `tessera demo` light

    try:
        return load_settings(config, **overrides)
    except ConfigurationError as exc:
        raise fail(exc.message) from None


def run_with_context(settings: Settings, action: Callable[[ServerContext], Awaitable[T]]) -> T:
    """Open the store and a context, run ``action``, close; TesseraErrors become exit 1."""
    from tessera.server.app import make_context  # noqa: PLC0415
    from tessera.storage.sql import open_store  # noqa: PLC0415

    if settings.database_url is None and not (settings.home / "tessera.db").exists():
        raise fail(
            f"no database in {settings.home}: start `tessera serve` once "
            "(it creates one) or run `tessera db upgrade`"
        )

    async def main() -> T:
        store = await open_store(settings.resolved_database_url)
        try:
            return await action(make_context(settings, store))
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except TesseraError as exc:
        raise fail(exc.message) from None


def print_rows(rows: list[dict[str, Any]], as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title=title)
    for column in rows[0] if rows else ["(none)"]:
        table.add_column(column)
    for row in rows:
        table.add_row(*(", ".join(v) if isinstance(v, list) else str(v) for v in row.values()))
    Console(highlight=False).print(table)
