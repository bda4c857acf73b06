"""PostgreSQL row-level security keyed on the caller's tenant (issue 7 §2).

Every request's queries run inside :func:`scoped_transaction`, which first sets three
transaction-local settings: ``tessera.tenant_id``, ``tessera.subject`` and ``tessera.scopes``
(space-separated, the RFC 6749 §3.3 scope form). Tables declared with
:func:`tenant_table_policy_sql` carry a policy comparing their tenant column with
``tessera.tenant_id``, and ``FORCE ROW LEVEL SECURITY`` so even the owner is filtered. A raw
query that forgets ``WHERE tenant_id = …`` still returns only the caller's rows.

The policy fails closed: with no tenant set, ``current_setting(…, true)`` is NULL (or ``''`` once
the placeholder has been used earlier in the session, hence the ``NULLIF``), ``tenant_id = NULL``
is never true, and the query sees NOTHING and may write nothing.

RLS binds only a role that is neither superuser nor ``BYPASSRLS`` and cannot turn the policy off
(a table owner can ``ALTER TABLE … DISABLE ROW LEVEL SECURITY``). :func:`grant_api_role_sql`
declares such a role; :func:`check_role_is_confined` refuses to start with any other.

Identifiers (tables, columns, roles) must match ``[a-z_][a-z0-9_]{0,62}``; they are checked and
double-quoted before they reach SQL. Values (tenant, subject, scopes) are only ever bind
parameters.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import asyncpg

from tessera.errors import ConfigurationError

__all__ = [
    "POLICY_NAME",
    "check_role_is_confined",
    "drop_tenant_table_policy_sql",
    "grant_api_role_sql",
    "quote_identifier",
    "scope_setting",
    "scoped_transaction",
    "tenant_table_policy_sql",
]

POLICY_NAME = "tessera_tenant_isolation"

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def quote_identifier(name: str) -> str:
    """Return ``name`` double-quoted, or raise: only plain lower-case SQL identifiers pass."""
    if not isinstance(name, str) or _IDENTIFIER.fullmatch(name) is None:
        raise ConfigurationError(
            "SQL identifier must match [a-z_][a-z0-9_]{0,62}", rule="sql_identifier"
        )
    return f'"{name}"'


def tenant_table_policy_sql(table: str, *, tenant_column: str = "tenant_id") -> list[str]:
    """DDL (one statement per item) that confines ``table`` to the current tenant.

    The policy compares ``tenant_column`` with ``tessera.tenant_id``. An unset tenant is NULL
    (``current_setting(name, true)`` returns NULL for a missing setting, and ``NULLIF`` turns the
    ``''`` left behind by an earlier ``SET LOCAL`` into NULL), so it matches no row: reads
    return nothing and writes are refused. Fail closed.
    """
    tbl = quote_identifier(table)
    col = quote_identifier(tenant_column)
    predicate = f"({col} = NULLIF(current_setting('tessera.tenant_id', true), ''))"
    return [
        f"ALTER TABLE {tbl} ENABLE ROW LEVEL SECURITY",
        # Without FORCE the owner bypasses every policy.
        f"ALTER TABLE {tbl} FORCE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {POLICY_NAME} ON {tbl}",
        f"CREATE POLICY {POLICY_NAME} ON {tbl} USING {predicate} WITH CHECK {predicate}",
    ]


def drop_tenant_table_policy_sql(table: str) -> list[str]:
    """DDL (one statement per item) that undoes :func:`tenant_table_policy_sql` on ``table``.

    For a migration's downgrade. Afterwards every role that has SELECT sees every tenant's rows:
    run it only when the table's data is not served to tenants any more (or the table goes too).
    """
    tbl = quote_identifier(table)
    return [
        f"DROP POLICY IF EXISTS {POLICY_NAME} ON {tbl}",
        f"ALTER TABLE {tbl} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {tbl} DISABLE ROW LEVEL SECURITY",
    ]


# USAGE on the table's serial/bigserial (deptype 'a') and identity (deptype 'i') sequences.
# Formatted with checked identifiers only.
_SEQUENCE_GRANT = (
    "DO $$ DECLARE seq regclass; BEGIN "
    "FOR seq IN SELECT d.objid::regclass FROM pg_catalog.pg_depend d "
    "JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
    "WHERE d.refobjid = '{table}'::regclass AND d.deptype IN ('a', 'i') LOOP "
    "EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %I', seq, '{role}'); "
    "END LOOP; END $$"
)


def grant_api_role_sql(role: str, tables: list[str], *, login: bool = False) -> list[str]:
    """DDL that creates (if missing) the API's confined role and grants it DML on ``tables``.

    The role is forced to ``NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB`` even if it already
    existed. It is granted SELECT/INSERT/UPDATE/DELETE and the sequences owned by the tables'
    columns (``serial``/``bigserial`` defaults need ``USAGE``), never ownership. Run it as an
    administrator; the tables should be owned by another role.
    """
    name = quote_identifier(role)
    quoted_tables = [quote_identifier(t) for t in tables]
    if not quoted_tables:
        raise ConfigurationError("the API role must be granted at least one table")
    attributes = "NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB NOREPLICATION " + (
        "LOGIN" if login else "NOLOGIN"
    )
    # PostgreSQL has no CREATE ROLE IF NOT EXISTS; the name is a checked identifier, so the
    # literal inside the DO block cannot break out.
    statements = [
        (
            "DO $$ BEGIN "
            f"IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{role}') THEN "
            f"CREATE ROLE {name} {attributes}; "
            "END IF; END $$"
        ),
        f"ALTER ROLE {name} {attributes}",
    ]
    for tbl, raw in zip(quoted_tables, tables, strict=True):
        statements.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE {tbl} TO {name}")
        statements.append(_SEQUENCE_GRANT.format(table=raw, role=role))
    return statements


def scope_setting(scopes: Iterable[str]) -> str:
    """The ``tessera.scopes`` value: sorted, unique RFC 6749 §3.3 scope tokens, space-separated."""
    if isinstance(scopes, str):
        # A bare string would be iterated character by character.
        raise ConfigurationError("scopes must be an iterable of scope tokens, not a string")
    unique = sorted(set(scopes))
    for scope in unique:
        if not isinstance(scope, str) or _SCOPE_TOKEN.fullmatch(scope) is None:
            raise ConfigurationError("scope is not an RFC 6749 §3.3 scope-token")
    return " ".join(unique)


@asynccontextmanager
async def scoped_transaction(
    conn: asyncpg.Connection, *, tenant_id: str, subject: str, scopes: Iterable[str]
) -> AsyncIterator[asyncpg.Connection]:
    """Open a transaction on ``conn`` bound to one tenant, subject and scope set.

    ``set_config(name, value, true)`` is ``SET LOCAL``: the values vanish at COMMIT or ROLLBACK,
    so a pooled connection never carries a tenant into the next request. It is used instead of a
    string-built ``SET LOCAL tessera.tenant_id = '…'`` because ``SET`` takes no bind parameters:
    the tenant and subject come from a token, and a quote in them must stay a value.
    """
    if not isinstance(tenant_id, str) or not tenant_id:
        # '' is what an unset setting reads as after SET LOCAL; it must never name a tenant.
        raise ConfigurationError("tenant_id must be a non-empty string")
    if not isinstance(subject, str):
        raise ConfigurationError("subject must be a string")
    scope_value = scope_setting(scopes)
    async with conn.transaction():
        await conn.execute(
            "SELECT set_config('tessera.tenant_id', $1, true), "
            "set_config('tessera.subject', $2, true), "
            "set_config('tessera.scopes', $3, true)",
            tenant_id,
            subject,
            scope_value,
        )
        yield conn


_CONFINEMENT_QUERY = """
SELECT
  EXISTS (
    SELECT 1 FROM pg_catalog.pg_roles r
    WHERE r.rolsuper
      AND (pg_has_role(current_user, r.oid, 'MEMBER') OR pg_has_role(session_user, r.oid, 'MEMBER'))
  ) AS superuser,
  EXISTS (
    SELECT 1 FROM pg_catalog.pg_roles r
    WHERE r.rolbypassrls
      AND (pg_has_role(current_user, r.oid, 'MEMBER') OR pg_has_role(session_user, r.oid, 'MEMBER'))
  ) AS bypassrls
"""

_TABLES_QUERY = """
SELECT t.name,
       c.oid IS NOT NULL AS found,
       COALESCE(pg_has_role(current_user, c.relowner, 'MEMBER')
                OR pg_has_role(session_user, c.relowner, 'MEMBER'), false) AS owner,
       COALESCE(c.relrowsecurity AND c.relforcerowsecurity, false) AS forced
FROM unnest($1::text[]) AS t(name)
LEFT JOIN pg_catalog.pg_class c ON c.oid = to_regclass(quote_ident(t.name))
"""


async def check_role_is_confined(conn: asyncpg.Connection, tables: Iterable[str]) -> None:
    """Raise :class:`ConfigurationError` unless RLS binds this connection on every table.

    Refused: a superuser or ``BYPASSRLS`` role (RLS never applies), the owner of a table (it can
    disable the policy), each also through role membership or via ``session_user`` (``SET ROLE``
    can be undone); and a table that is missing or lacks ENABLE + FORCE ROW LEVEL SECURITY.
    """
    names = list(tables)
    for name in names:
        quote_identifier(name)
    row = await conn.fetchrow(_CONFINEMENT_QUERY)
    if row["superuser"]:
        raise ConfigurationError(
            "the API database role is or can become a superuser", reason="superuser"
        )
    if row["bypassrls"]:
        raise ConfigurationError(
            "the API database role can bypass row-level security", reason="bypassrls"
        )
    for table in await conn.fetch(_TABLES_QUERY, names):
        if not table["found"]:
            raise ConfigurationError("table not found", reason="missing_table", table=table["name"])
        if table["owner"]:
            raise ConfigurationError(
                "the API database role owns a table", reason="owner", table=table["name"]
            )
        if not table["forced"]:
            raise ConfigurationError(
                "table lacks ENABLE + FORCE ROW LEVEL SECURITY",
                reason="rls_not_forced",
                table=table["name"],
            )
