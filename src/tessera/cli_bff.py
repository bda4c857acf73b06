"""``tessera bff``: run the backend-for-frontend (settings from ``TESSERA_BFF_*``/TOML)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tessera.cli_common import fail
from tessera.errors import ConfigurationError

__all__ = ["bff"]


def bff(
    config: Annotated[Path | None, typer.Option(help="TOML settings file.")] = None,
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
) -> None:
    """Run the BFF: browsers get an httpOnly cookie, the tokens stay here.

    Needs at least TESSERA_BFF_ISSUER, TESSERA_BFF_CLIENT_ID and TESSERA_BFF_CLIENT_SECRET
    (a confidential client of the issuer with redirect URI {public_url}/bff/callback).
    """
    import uvicorn  # noqa: PLC0415 - the server extra

    from tessera.bff.app import create_bff_app  # noqa: PLC0415
    from tessera.bff.config import load_bff_settings  # noqa: PLC0415

    try:
        settings = load_bff_settings(config, host=host, port=port)
    except ConfigurationError as exc:
        raise fail(exc.message) from None
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    typer.echo(f"tessera bff on {settings.public_url} for issuer {settings.issuer}")
    uvicorn.run(
        lambda: create_bff_app(settings),
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        proxy_headers=False,
    )
