"""The tenant policy of :mod:`tessera.authz.rls` for embedded SQLite, applied in the query layer.

WEAKER THAN POSTGRESQL ROW-LEVEL SECURITY. PostgreSQL enforces its policy in the server for
every session of a confined role. Here the filter is a set of TEMP views that exist only on the
connections that ran :func:`install_tenant_views`; SQLite itself enforces nothing:

- ``main.<table>`` names the real table and bypasses the filter, for reads and writes;
- another connection to the same file (the ``sqlite3`` shell, a migration, a second pool)
  without the views sees and changes every tenant's rows;
- SQL on the connection can remove the filter (``DROP VIEW temp.<table>``).

It is a guard against a query that forgets ``WHERE tenant_id = …``, not against hostile SQL:
it binds only code that goes through these connections and unqualified table names.

How it works. For each table, a TEMP view of the same name shadows ``main.<table>`` for
unqualified names (SQLite looks in ``temp`` first)::

    CREATE TEMP VIEW events AS SELECT * FROM main.events WHERE tenant_id = tessera_tenant()

``tessera_tenant()``, ``tessera_subject()`` and ``tessera_scopes()`` (space-separated) read a
per-connection cell that :func:`scoped_sqlite_transaction` fills after ``BEGIN`` and empties
after ``COMMIT`` or ``ROLLBACK``. With no scoped transaction open they return NULL, and
``tenant_id = NULL`` is never true: every query sees nothing and every write is refused. They
are not declared deterministic: the value changes between transactions, and a deterministic
function may be used in index expressions, CHECK constraints and generated columns, where a
per-transaction value would be wrong. An index led by the tenant column still serves the
view: ``column = f()`` is an index seek with ``f()`` evaluated once per statement
(``EXPLAIN QUERY PLAN`` shows ``SEARCH main.events USING INDEX …``).

Writes. ``INSTEAD OF`` triggers on each view pass the row to the SQL function
``tessera_write``, which applies it to ``main.<table>`` with a nested statement, and only for
the caller's tenant: an INSERT or an UPDATE whose row names another tenant is refused (the
WITH CHECK), and UPDATE and DELETE match the primary key AND the caller's tenant. The triggers
cannot write ``main.<table>`` themselves: SQLite forbids qualified table names in trigger
bodies, and in a TEMP trigger the unqualified name resolves to the view. Consequences:

- a refused write raises ``sqlite3.IntegrityError`` ("tessera: …"), a constraint violation too;
  any other failure of the nested write (a locked database, say) raises
  ``sqlite3.OperationalError`` "user-defined function raised exception". SQLite's own message
  is added as a note when the error leaves the scoped transaction;
- a failed write through a view dooms the scoped transaction, as an error does in PostgreSQL:
  it is rolled back on exit even if the error was caught (the rows a multi-row statement wrote
  before the failure are not undone by the statement alone);
- a NULL written into a column with a DEFAULT takes the default (an INSTEAD OF trigger cannot
  tell an omitted column from an explicit NULL);
- ``OR IGNORE``/``OR REPLACE`` and UPSERT are not passed through, and ``rowcount``,
  ``lastrowid`` and ``RETURNING`` do not report rows written through a view;
- ``tessera_write`` can be called directly, with no more power than the views.

Tables need a PRIMARY KEY (the view hides the rowid, so rows are addressed by the key) whose
columns are NOT NULL unless it is the ``INTEGER PRIMARY KEY`` rowid alias; ``WITHOUT ROWID``
tables work. Table and column names must match ``[a-z_][a-z0-9_]{0,62}`` (as in
:mod:`tessera.authz.rls`). Columns are read when the views are installed: install them again
after a migration changes a table.

A connection must be used by one task at a time: the cell belongs to the connection, so a
second task's queries during a scoped transaction would run as its tenant. Nesting scoped
transactions on one connection is refused, and so is opening one while another transaction is
open. ``isolation_level=None`` suits these connections best: in the ``sqlite3`` module's
default mode a write attempted outside a scoped transaction (refused) leaves the transaction
the module opened for it, to be rolled back before the next scoped transaction.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiosqlite

from tessera.authz.rls import quote_identifier, scope_setting
from tessera.errors import ConfigurationError, StorageError

__all__ = ["install_tenant_views", "scoped_sqlite_transaction"]

# tessera_write's results; the triggers turn each refusal into RAISE(ABORT, <message>).
_OK = 0
_NO_SCOPE = 1
_OTHER_TENANT = 2
_CONSTRAINT = 3


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    tenant_column: str
    columns: tuple[str, ...]  # writable columns (generated ones excluded), in table order
    defaults: frozenset[str]  # columns with a DEFAULT
    key: tuple[str, ...]  # primary key columns
    update_sql: str  # parameters: new columns, old key, caller's tenant
    delete_sql: str  # parameters: old key, caller's tenant

    @classmethod
    def build(
        cls,
        name: str,
        tenant_column: str,
        columns: tuple[str, ...],
        defaults: frozenset[str],
        key: tuple[str, ...],
    ) -> _Table:
        tbl = quote_identifier(name)
        # The key AND the tenant: even a direct tessera_write call reaches only the caller's rows.
        match = " AND ".join(f"{quote_identifier(c)} = ?" for c in (*key, tenant_column))
        assignments = ", ".join(f"{quote_identifier(c)} = ?" for c in columns)
        return cls(
            name=name,
            tenant_column=tenant_column,
            columns=columns,
            defaults=defaults,
            key=key,
            update_sql=f"UPDATE main.{tbl} SET {assignments} WHERE {match}",  # noqa: S608 - checked names
            delete_sql=f"DELETE FROM main.{tbl} WHERE {match}",  # noqa: S608 - checked names
        )

    def insert_sql(self, present: Sequence[str]) -> str:
        names = ", ".join(quote_identifier(c) for c in present)
        marks = ", ".join("?" for _ in present)
        return f"INSERT INTO main.{quote_identifier(self.name)} ({names}) VALUES ({marks})"  # noqa: S608 - checked names


@dataclass(slots=True)
class _Cell:
    """What the SQL functions of one connection read; filled only inside a scoped transaction."""

    tenant: str | None = None
    subject: str | None = None
    scopes: str | None = None
    failed: str | None = None  # SQLite's message for the first failed write-through
    tables: dict[str, _Table] = field(default_factory=dict)

    def open(self, tenant: str, subject: str, scopes: str) -> None:
        self.tenant, self.subject, self.scopes, self.failed = tenant, subject, scopes, None

    def close(self) -> None:
        self.tenant = self.subject = self.scopes = self.failed = None

    def raise_if_a_write_failed(self) -> None:
        if self.failed is not None:
            raise StorageError(
                "a write through a tenant view failed; the transaction was rolled back",
                reason="write_failed",
            )


# Keyed weakly by the connection, so a dropped connection takes its cell with it; nothing in a
# cell refers back to the aiosqlite connection.
_CELLS: weakref.WeakKeyDictionary[aiosqlite.Connection, _Cell] = weakref.WeakKeyDictionary()


def _apply(
    raw: sqlite3.Connection, table: _Table, op: object, values: tuple[Any, ...], tenant: str
) -> int:
    n_columns, n_key = len(table.columns), len(table.key)
    if op == "delete" and len(values) == n_key:
        raw.execute(table.delete_sql, (*values, tenant))
        return _OK
    if op == "insert" and len(values) == n_columns:
        old_key, new = (), values
    elif op == "update" and len(values) == n_key + n_columns:
        old_key, new = values[:n_key], values[n_key:]
    else:
        raise ValueError("tessera_write: malformed call")
    row = dict(zip(table.columns, new, strict=True))
    if row[table.tenant_column] != tenant:
        # The WITH CHECK: a row is written only for the caller's tenant.
        return _OTHER_TENANT
    if op == "insert":
        present = [c for c in table.columns if row[c] is not None or c not in table.defaults]
        raw.execute(table.insert_sql(present), [row[c] for c in present])
    else:
        raw.execute(table.update_sql, (*new, *old_key, tenant))
    return _OK


def _write_function(cell: _Cell, raw: sqlite3.Connection) -> Callable[..., int]:
    # Holds the sqlite3 connection, which holds this function: aiosqlite closes that
    # connection (close() or its finalizer), which releases the function and ends the cycle.
    def tessera_write(table: object, op: object, *values: Any) -> int:
        spec = cell.tables.get(table) if isinstance(table, str) else None
        if spec is None:
            raise ValueError("tessera_write: not a tenant table")
        tenant = cell.tenant
        if tenant is None:
            return _NO_SCOPE
        try:
            status = _apply(raw, spec, op, values, tenant)
        except sqlite3.IntegrityError as exc:
            status = _CONSTRAINT
            cell.failed = cell.failed or str(exc)
        except sqlite3.Error as exc:
            cell.failed = cell.failed or str(exc)
            raise
        if status != _OK:
            cell.failed = cell.failed or "tessera: the row belongs to another tenant"
        return status

    return tessera_write


async def _rows(conn: aiosqlite.Connection, sql: str, params: Sequence[object] = ()) -> list[Any]:
    async with conn.execute(sql, params) as cursor:
        # Plain tuples, whatever row factory the application installed.
        cursor.row_factory = None
        return list(await cursor.fetchall())


async def _describe(conn: aiosqlite.Connection, table: str, tenant_column: str) -> _Table:
    tbl = quote_identifier(table)
    kind = await _rows(
        conn,
        "SELECT type FROM main.sqlite_master WHERE name = ? COLLATE NOCASE "
        "AND type IN ('table', 'view')",
        (table,),
    )
    if not kind or kind[0][0] != "table":
        raise ConfigurationError("table not found", reason="missing_table", table=table)
    # (cid, name, type, notnull, dflt_value, pk); generated columns are not listed.
    info = await _rows(conn, f"PRAGMA main.table_info({tbl})")
    for row in info:
        quote_identifier(row[1])
    columns = tuple(row[1] for row in info)
    if tenant_column not in columns:
        raise ConfigurationError(
            "table has no tenant column", reason="missing_tenant_column", table=table
        )
    key = tuple(row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5]))
    if not key:
        raise ConfigurationError(
            "tenant table needs a PRIMARY KEY", reason="no_primary_key", table=table
        )
    # Only the INTEGER PRIMARY KEY rowid alias has no automatic "pk" index; it is never NULL.
    # Any other key may hold NULLs in a rowid table unless declared NOT NULL, and a NULL key
    # cannot address its row.
    indexes = await _rows(conn, f"PRAGMA main.index_list({tbl})")  # (seq, name, unique, origin, …)
    rowid_alias = not any(r[3] == "pk" for r in indexes)
    if not rowid_alias and not all(r[3] for r in info if r[5]):
        raise ConfigurationError(
            "primary key columns must be NOT NULL", reason="nullable_primary_key", table=table
        )
    defaults = frozenset(row[1] for row in info if row[4] is not None)
    return _Table.build(table, tenant_column, columns, defaults, key)


_REFUSALS = (
    f"WHEN {_NO_SCOPE} THEN RAISE(ABORT, 'tessera: no tenant scope is open') "
    f"WHEN {_OTHER_TENANT} THEN RAISE(ABORT, 'tessera: the row belongs to another tenant') "
    f"WHEN {_CONSTRAINT} THEN RAISE(ABORT, 'tessera: the write violates a constraint of {{t}}')"
)


def _ddl(table: _Table) -> list[str]:
    # Every name is a checked identifier, so the quoted and literal uses below cannot break out.
    t = table.name
    view = quote_identifier(t)
    new = ", ".join(f"NEW.{quote_identifier(c)}" for c in table.columns)
    old_key = ", ".join(f"OLD.{quote_identifier(c)}" for c in table.key)
    tenant = quote_identifier(table.tenant_column)
    refusals = _REFUSALS.format(t=t)

    def trigger(event: str, args: str) -> str:
        return (
            f'CREATE TEMP TRIGGER "tessera_{t}_{event.lower()}" INSTEAD OF {event} '
            f"ON temp.{view} BEGIN "
            f"SELECT CASE tessera_write('{t}', '{event.lower()}', {args}) {refusals} END; "
            "END"
        )

    return [
        # Dropping the view drops its triggers: installing again refreshes the column lists.
        f"DROP VIEW IF EXISTS temp.{view}",
        f"CREATE TEMP VIEW {view} AS SELECT * FROM main.{view} WHERE {tenant} = tessera_tenant()",  # noqa: S608 - checked names
        trigger("INSERT", new),
        trigger("UPDATE", f"{old_key}, {new}"),
        trigger("DELETE", old_key),
    ]


async def _cell_for(conn: aiosqlite.Connection) -> _Cell:
    cell = _CELLS.get(conn)
    if cell is not None:
        return cell
    cell = _Cell()
    async with conn.cursor() as cursor:
        raw = cursor.connection
    await conn.create_function("tessera_tenant", 0, lambda: cell.tenant)
    await conn.create_function("tessera_subject", 0, lambda: cell.subject)
    await conn.create_function("tessera_scopes", 0, lambda: cell.scopes)
    await conn.create_function("tessera_write", -1, _write_function(cell, raw))
    _CELLS[conn] = cell
    return cell


async def install_tenant_views(
    conn: aiosqlite.Connection, tables: Sequence[str], *, tenant_column: str = "tenant_id"
) -> None:
    """Confine unqualified queries on ``conn`` to the tenant of its scoped transaction.

    Creates, on this connection only, the TEMP view and triggers of each table and the
    ``tessera_*`` SQL functions (see the module docstring, and how much weaker this is than
    PostgreSQL). Idempotent; run it again after a migration changes a table. Raises
    :class:`ConfigurationError` for a malformed name, a missing table or tenant column, or a
    table without a usable primary key, before anything is created.
    """
    if isinstance(tables, str):
        # A bare string would be iterated character by character.
        raise ConfigurationError("tables must be a sequence of table names, not a string")
    names = list(dict.fromkeys(tables))
    if not names:
        raise ConfigurationError("at least one tenant table is needed")
    quote_identifier(tenant_column)
    for name in names:
        quote_identifier(name)
    specs = [await _describe(conn, name, tenant_column) for name in names]
    cell = await _cell_for(conn)
    for spec in specs:
        cell.tables[spec.name] = spec
        for statement in _ddl(spec):
            await conn.execute(statement)


@asynccontextmanager
async def scoped_sqlite_transaction(
    conn: aiosqlite.Connection, *, tenant_id: str, subject: str, scopes: Iterable[str]
) -> AsyncIterator[aiosqlite.Connection]:
    """Open a transaction on ``conn`` in which its tenant views show one tenant's rows.

    ``BEGIN``, fill the connection's cell, run the block, ``COMMIT`` (``ROLLBACK`` if it
    raised, or if a write through a view failed in it: :class:`StorageError`), and empty the
    cell whatever happens, so the connection sees nothing again. Refused with
    :class:`ConfigurationError`: a connection without :func:`install_tenant_views`, one with a
    transaction (scoped or not) already open, an empty tenant, malformed scopes.
    """
    if not isinstance(tenant_id, str) or not tenant_id:
        raise ConfigurationError("tenant_id must be a non-empty string")
    if not isinstance(subject, str):
        raise ConfigurationError("subject must be a string")
    scope_value = scope_setting(scopes)
    cell = _CELLS.get(conn)
    if cell is None:
        raise ConfigurationError(
            "install_tenant_views has not run on this connection", reason="views_not_installed"
        )
    if cell.tenant is not None:
        raise ConfigurationError(
            "a scoped transaction is already open on this connection", reason="nested_scope"
        )
    if conn.in_transaction:
        # The sqlite3 module's default mode opens a transaction before any INSERT/UPDATE/DELETE,
        # even one the views refuse; its owner must end it, not this scope.
        raise ConfigurationError(
            "a transaction is already open on this connection", reason="transaction_open"
        )
    await conn.execute("BEGIN")
    cell.open(tenant_id, subject, scope_value)
    try:
        yield conn
        cell.raise_if_a_write_failed()
        await conn.commit()
    except BaseException as exc:
        if cell.failed is not None:
            exc.add_note(f"tessera: first failed write through a tenant view: {cell.failed}")
        await conn.rollback()
        raise
    finally:
        cell.close()
