"""Alembic helpers that declare tenant tables in the application's own migrations (issue 7 §2).

Thin wrappers: each runs the statements of :mod:`tessera.authz.rls` through ``op.execute``, so
online migrations apply them and ``alembic upgrade --sql`` prints them for a DBA. A typical
revision::

    def upgrade() -> None:
        op.create_table("events", ...)
        enable_tenant_rls(op, "events")
        grant_api_role(op, "tessera_api", ["events"])

    def downgrade() -> None:
        disable_tenant_rls(op, "events")
        op.drop_table("events")

Row-level security exists only in PostgreSQL: on any other dialect these helpers raise
:class:`ConfigurationError` naming it rather than succeed while protecting nothing. The embedded
SQLite variant is per connection, not part of the schema: see :mod:`tessera.authz.sqlite_scope`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from tessera.authz.rls import (
    drop_tenant_table_policy_sql,
    grant_api_role_sql,
    tenant_table_policy_sql,
)
from tessera.errors import ConfigurationError

__all__ = ["MigrationOperations", "disable_tenant_rls", "enable_tenant_rls", "grant_api_role"]


class MigrationOperations(Protocol):
    """What the helpers use of Alembic's ``op``: the module proxy or an ``Operations``.

    A protocol, not ``alembic.operations.Operations``: revisions pass ``alembic.op``, a module
    that proxies one, and a type checker would refuse a module where a class is declared.
    """

    def get_context(self) -> Any: ...

    def execute(self, sqltext: str) -> Any: ...


def _execute_on_postgresql(op: MigrationOperations, statements: list[str]) -> None:
    # The statements were generated (and every identifier checked) before the first one runs:
    # a bad name fails the migration before it changes anything.
    dialect = op.get_context().dialect.name
    if dialect != "postgresql":
        raise ConfigurationError(
            f"tenant row-level security needs PostgreSQL; this migration runs on {dialect!r}",
            dialect=dialect,
        )
    for statement in statements:
        op.execute(statement)


def enable_tenant_rls(
    op: MigrationOperations, table: str, *, tenant_column: str = "tenant_id"
) -> None:
    """Confine ``table`` to the current tenant (ENABLE + FORCE RLS and the tenant policy)."""
    _execute_on_postgresql(op, tenant_table_policy_sql(table, tenant_column=tenant_column))


def disable_tenant_rls(op: MigrationOperations, table: str) -> None:
    """Undo :func:`enable_tenant_rls` (for a downgrade): every tenant's rows become visible."""
    _execute_on_postgresql(op, drop_tenant_table_policy_sql(table))


def grant_api_role(
    op: MigrationOperations, role: str, tables: Sequence[str], *, login: bool = False
) -> None:
    """Create (if missing) the API's confined role and grant it DML on ``tables``.

    See :func:`tessera.authz.rls.grant_api_role_sql`: the role is forced to NOSUPERUSER
    NOBYPASSRLS and never owns the tables.
    """
    if isinstance(tables, str):
        # A bare string would be iterated character by character.
        raise ConfigurationError("tables must be a sequence of table names, not a string")
    _execute_on_postgresql(op, grant_api_role_sql(role, list(tables), login=login))
