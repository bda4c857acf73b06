"""Schema migrations (Alembic), runnable from an installed wheel: no ``alembic.ini`` needed.

The scripts live in ``tessera/storage/migrations/``; :func:`upgrade` is what
``tessera db upgrade`` runs. Concurrent upgrades serialize (a PostgreSQL advisory lock, the
SQLite write lock) and each runs in one transaction: it applies fully or not at all.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from tessera.storage.engine import WRITE, make_engine

__all__ = [
    "HEAD_REVISION",
    "alembic_config",
    "current_revision",
    "read_revision",
    "script_head",
    "upgrade",
]

HEAD_REVISION = "0002"
"""The revision this code needs; a test pins it to the newest script."""

SCRIPT_LOCATION = Path(__file__).resolve().parent / "migrations"
# Any constant shared by all Tessera processes; it keys pg_advisory_xact_lock.
_PG_LOCK_KEY = 0x7E55E7A


def alembic_config(url: str | None = None) -> Config:
    """An Alembic :class:`Config` built in code, pointing at the packaged scripts."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if url is not None:
        # ConfigParser interpolation: a literal % (e.g. in a password) must be doubled.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def script_head() -> str | None:
    """The newest revision among the packaged scripts."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def read_revision(connection: sa.Connection) -> str | None:
    """The revision recorded in the database; None when it was never migrated."""
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(url: str) -> str:
    """Migrate the database at ``url`` to the head revision; returns it. Idempotent."""
    engine = make_engine(url).execution_options(**{WRITE: True})
    try:
        async with engine.begin() as conn:
            revision = await conn.run_sync(_upgrade)
    finally:
        await engine.dispose()
    return revision


async def current_revision(url: str) -> str | None:
    """The revision of the database at ``url`` (None before the first upgrade)."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(read_revision)
    finally:
        await engine.dispose()


def _upgrade(connection: sa.Connection) -> str:
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    revision = read_revision(connection)
    if revision is None:  # pragma: no cover - alembic records the revision or raises
        raise RuntimeError("migration recorded no revision")
    return revision
