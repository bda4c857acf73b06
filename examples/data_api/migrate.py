"""The example's schema, applied with Alembic (scripts in ``migrations/``), no ``alembic.ini``.

Run as the database ADMINISTRATOR: on PostgreSQL the tables end up owned by that role, and
the migration creates (or re-confines) the API's LOGIN role, which only gets DML grants. The
API later connects as that role and refuses to start as anything stronger.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from examples.data_api.urls import DatabaseUrl

__all__ = ["DEFAULT_API_ROLE", "TABLES", "TENANT_TABLES", "VERSION_TABLE", "upgrade"]

SCRIPT_LOCATION = Path(__file__).resolve().parent / "migrations"
DEFAULT_API_ROLE = "data_api"
TABLES = ("tenants", "memberships", "events")
TENANT_TABLES = ("memberships", "events")
"""Tables under row-level security (PostgreSQL) or tenant views (SQLite)."""
# Its own version table: the example may share a database with other Alembic histories.
VERSION_TABLE = "data_api_alembic_version"
_ROLE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def alembic_config(api_role: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["api_role"] = api_role
    return config


def _upgrade(connection: sa.Connection, api_role: str) -> None:
    config = alembic_config(api_role)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade(database: DatabaseUrl, *, api_role: str = DEFAULT_API_ROLE) -> None:
    """Create or update the schema at ``database`` (idempotent)."""
    if _ROLE.fullmatch(api_role) is None:
        raise ValueError("the API role must match [a-z_][a-z0-9_]{0,62}")
    engine = create_async_engine(database.sqlalchemy_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade, api_role)
    finally:
        await engine.dispose()
