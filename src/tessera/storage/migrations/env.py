"""Alembic environment for Tessera's schema.

Normally run by :func:`tessera.storage.migrate.upgrade`, which hands over an open connection
in ``config.attributes["connection"]``. The plain ``alembic`` command works too, given
``sqlalchemy.url``; ``--sql`` (offline) prints the DDL for a DBA to apply.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context

from tessera.storage.engine import WRITE, make_engine
from tessera.storage.tables import metadata


def _run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite ALTERs by copying tables; our engine makes its DDL transactional.
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str) -> None:
    engine = make_engine(url).execution_options(**{WRITE: True})
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


def _main() -> None:
    if context.is_offline_mode():
        _run_offline()
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url, or run `tessera db upgrade`")
    asyncio.run(_run_online(url))


_main()
