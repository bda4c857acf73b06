"""Alembic environment for the data API example; run by :func:`examples.data_api.migrate.upgrade`.

It receives an open connection in ``config.attributes["connection"]`` (one transaction: the
migration applies fully or not at all).
"""

from __future__ import annotations

from alembic import context

from examples.data_api.migrate import VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run `python -m examples.data_api migrate --database URL`")
context.configure(
    connection=connection,
    version_table=VERSION_TABLE,
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
