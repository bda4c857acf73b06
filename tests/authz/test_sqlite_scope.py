"""The SQLite query-layer tenant policy on real database files (issue 7 §2).

Each test gets a fresh file, seeded through a plain connection (no views: it sees everything,
as any other connection would). The queries below deliberately omit ``WHERE tenant_id = …``:
the views alone must confine them. The documented weaknesses are tested too, so the module
docstring stays true.
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import weakref
from pathlib import Path

import aiosqlite
import pytest

from tessera.authz import sqlite_scope
from tessera.authz.sqlite_scope import install_tenant_views, scoped_sqlite_transaction
from tessera.errors import ConfigurationError, StorageError

INJECTION = "'; DROP TABLE events; --"

SCHEMA = [
    (
        "CREATE TABLE events (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, subject TEXT, "
        "payload TEXT, amount INTEGER NOT NULL DEFAULT 1, "
        "created_at TEXT NOT NULL DEFAULT '2024-01-01', "
        "shout TEXT GENERATED ALWAYS AS (upper(payload)) VIRTUAL)"
    ),
    "CREATE INDEX events_tenant_created ON events (tenant_id, created_at)",
    (
        "CREATE TABLE settings (tenant_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT, "
        "PRIMARY KEY (tenant_id, key)) WITHOUT ROWID"
    ),
]
EVENTS = [
    (1, "a", "alice", "a-1", 10, "2024-02-01"),
    (2, "a", "alice", "a-2", 20, "2024-03-01"),
    (3, "b", "bob", "b-1", 100, "2024-02-01"),
    (4, "b", "bob", "b-2", 200, "2024-03-01"),
    (5, "b", "bob", "b-3", 300, "2024-04-01"),
    (6, "", "nobody", "empty-tenant", 0, "2024-01-01"),  # must never match an unset tenant
]
SETTINGS = [("a", "theme", "dark"), ("b", "theme", "light"), ("b", "lang", "fr")]


@pytest.fixture
async def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "tenants.db"
    async with aiosqlite.connect(path) as admin:
        for statement in SCHEMA:
            await admin.execute(statement)
        await admin.executemany(
            "INSERT INTO events (id, tenant_id, subject, payload, amount, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            EVENTS,
        )
        await admin.executemany("INSERT INTO settings VALUES (?, ?, ?)", SETTINGS)
        await admin.commit()
    return path


@pytest.fixture
async def conn(db_path: Path):
    connection = await aiosqlite.connect(db_path)
    try:
        await install_tenant_views(connection, ["events", "settings"])
        yield connection
    finally:
        await connection.close()


async def everything(db_path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple]:
    """What a connection WITHOUT the views sees: every tenant's rows."""
    async with aiosqlite.connect(db_path) as admin:
        return [tuple(row) for row in await admin.execute_fetchall(sql, params)]


async def fetch(conn: aiosqlite.Connection, sql: str, params: tuple[object, ...] = ()):
    return [tuple(row) for row in await conn.execute_fetchall(sql, params)]


def tenant(conn: aiosqlite.Connection, tenant_id: str = "a"):
    return scoped_sqlite_transaction(
        conn, tenant_id=tenant_id, subject="alice", scopes=["events:read"]
    )


class Rollback(Exception):
    """Raised at the end of a scoped block to undo its writes."""


# ------------------------------------------------------------------ reads


async def test_raw_select_without_where_returns_only_the_tenants_rows(conn):
    async with tenant(conn):
        rows = await fetch(conn, "SELECT * FROM events ORDER BY id")
        settings = await fetch(conn, "SELECT key, value FROM settings")
    assert [r[3] for r in rows] == ["a-1", "a-2"]
    assert {r[1] for r in rows} == {"a"}
    assert rows[0][-1] == "A-1"  # generated columns come through the view
    assert settings == [("theme", "dark")]


async def test_aggregates_joins_and_subqueries_are_confined(conn):
    async with tenant(conn):
        assert await fetch(conn, "SELECT count(*), sum(amount) FROM events") == [(2, 30)]
        assert await fetch(conn, "SELECT tenant_id, count(*) FROM events GROUP BY 1") == [("a", 2)]
        assert await fetch(conn, "SELECT DISTINCT tenant_id FROM events") == [("a",)]
        assert await fetch(conn, "SELECT count(*) FROM events e JOIN events f USING (id)") == [(2,)]
        assert await fetch(
            conn, "SELECT count(*) FROM settings WHERE tenant_id IN (SELECT tenant_id FROM events)"
        ) == [(1,)]
        assert await fetch(
            conn,
            "WITH t AS (SELECT amount FROM events) "
            "SELECT (SELECT max(amount) FROM t), (SELECT count(*) FROM settings)",
        ) == [(20, 1)]


async def test_other_tenant_sees_only_its_own(conn):
    async with tenant(conn, "b"):
        assert await fetch(conn, "SELECT count(*), sum(amount) FROM events") == [(3, 600)]
        assert await fetch(conn, "SELECT count(*) FROM settings") == [(2,)]


async def test_scope_values_are_visible_to_sql(conn):
    async with scoped_sqlite_transaction(
        conn, tenant_id="a", subject="alice", scopes=["b:write", "a:read", "a:read"]
    ):
        row = await fetch(conn, "SELECT tessera_tenant(), tessera_subject(), tessera_scopes()")
    assert row == [("a", "alice", "a:read b:write")]


# ------------------------------------------------------------------ fail closed


async def test_without_a_scope_nothing_is_visible_and_writes_are_refused(conn, db_path):
    assert await fetch(conn, "SELECT * FROM events") == []
    assert await fetch(conn, "SELECT count(*) FROM settings") == [(0,)]
    assert await fetch(conn, "SELECT tessera_tenant(), tessera_subject(), tessera_scopes()") == [
        (None, None, None)
    ]
    with pytest.raises(sqlite3.IntegrityError, match="no tenant scope is open"):
        await conn.execute("INSERT INTO events (tenant_id, payload) VALUES ('a', 'x')")
    await conn.execute("UPDATE events SET payload = 'pwned'")
    await conn.execute("DELETE FROM events")
    # The sqlite3 module opened a transaction for those writes: a scope will not adopt it.
    assert conn.in_transaction
    with pytest.raises(ConfigurationError) as info:
        async with tenant(conn):
            pass
    assert info.value.fields["reason"] == "transaction_open"
    await conn.rollback()
    assert await everything(db_path, "SELECT id, payload FROM events ORDER BY id") == [
        (e[0], e[3]) for e in EVENTS
    ]


async def test_autocommit_connection_is_left_without_a_transaction(db_path):
    async with aiosqlite.connect(db_path, isolation_level=None) as conn:
        await install_tenant_views(conn, ["events"])
        with pytest.raises(sqlite3.IntegrityError, match="no tenant scope is open"):
            await conn.execute("INSERT INTO events (tenant_id, payload) VALUES ('a', 'x')")
        assert not conn.in_transaction
        async with tenant(conn):
            await conn.execute("INSERT INTO events (tenant_id, payload) VALUES ('a', 'auto')")
        assert not conn.in_transaction
    assert await everything(db_path, "SELECT tenant_id FROM events WHERE payload = 'auto'") == [
        ("a",)
    ]


async def test_cell_is_cleared_after_commit(conn):
    async with tenant(conn):
        assert await fetch(conn, "SELECT count(*) FROM events") == [(2,)]
    assert await fetch(conn, "SELECT count(*) FROM events") == [(0,)]
    assert await fetch(conn, "SELECT tessera_tenant()") == [(None,)]
    assert not conn.in_transaction


async def test_cell_is_cleared_and_writes_undone_after_an_exception(conn, db_path):
    async def body():
        async with tenant(conn):
            await conn.execute("INSERT INTO events (tenant_id, payload) VALUES ('a', 'lost')")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        await body()
    assert await fetch(conn, "SELECT count(*) FROM events") == [(0,)]
    assert not conn.in_transaction
    assert await everything(db_path, "SELECT count(*) FROM events WHERE payload = 'lost'") == [(0,)]


async def test_cell_is_cleared_after_cancellation(conn):
    entered = asyncio.Event()

    async def body():
        async with tenant(conn):
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(body())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await fetch(conn, "SELECT count(*) FROM events") == [(0,)]
    assert not conn.in_transaction


async def test_two_connections_with_different_tenants_do_not_mix(db_path):
    async with aiosqlite.connect(db_path) as first, aiosqlite.connect(db_path) as second:
        await install_tenant_views(first, ["events"])
        await install_tenant_views(second, ["events"])
        a_open, b_done = asyncio.Event(), asyncio.Event()

        async def as_a():
            async with tenant(first, "a"):
                a_open.set()
                await b_done.wait()  # B's whole scope runs while A's is open
                return await fetch(first, "SELECT payload FROM events ORDER BY id")

        async def as_b():
            await a_open.wait()
            async with tenant(second, "b"):
                seen = await fetch(second, "SELECT payload FROM events ORDER BY id")
            b_done.set()
            return seen

        a_seen, b_seen = await asyncio.gather(as_a(), as_b())
    assert a_seen == [("a-1",), ("a-2",)]
    assert b_seen == [("b-1",), ("b-2",), ("b-3",)]


async def test_nested_scope_is_refused(conn):
    async with tenant(conn):
        with pytest.raises(ConfigurationError) as info:
            async with tenant(conn, "b"):
                pass
        assert info.value.fields["reason"] == "nested_scope"
        # The outer scope is untouched.
        assert await fetch(conn, "SELECT tessera_tenant()") == [("a",)]


async def test_scope_without_views_is_refused(db_path):
    async with aiosqlite.connect(db_path) as plain:
        with pytest.raises(ConfigurationError) as info:
            async with tenant(plain):
                pass
    assert info.value.fields["reason"] == "views_not_installed"


# ------------------------------------------------------------------ writes


async def test_insert_for_own_tenant_is_committed_and_defaults_apply(conn, db_path):
    async with tenant(conn):
        await conn.execute("INSERT INTO events (tenant_id, payload) VALUES ('a', 'a-new')")
        # An explicit NULL into a column with a DEFAULT takes the default (documented).
        await conn.execute(
            "INSERT INTO events (tenant_id, payload, amount) VALUES ('a', 'a-null', NULL)"
        )
        assert await fetch(conn, "SELECT count(*) FROM events") == [(4,)]
    assert await everything(
        db_path,
        "SELECT tenant_id, subject, amount, created_at FROM events "
        "WHERE payload IN ('a-new', 'a-null')",
    ) == [("a", None, 1, "2024-01-01"), ("a", None, 1, "2024-01-01")]


@pytest.mark.parametrize("other", ["b", "", None, "A", "a "])
async def test_insert_for_another_tenant_is_refused(conn, db_path, other):
    with pytest.raises(sqlite3.IntegrityError, match="belongs to another tenant"):
        async with tenant(conn):
            await conn.execute(
                "INSERT INTO events (tenant_id, payload) VALUES (?, 'planted')", (other,)
            )
    assert await everything(db_path, "SELECT count(*) FROM events WHERE payload = 'planted'") == [
        (0,)
    ]


async def test_update_moving_a_row_to_another_tenant_is_refused(conn, db_path):
    with pytest.raises(sqlite3.IntegrityError, match="belongs to another tenant"):
        async with tenant(conn):
            await conn.execute("UPDATE events SET tenant_id = 'b' WHERE id = 1")
    with pytest.raises(sqlite3.IntegrityError, match="belongs to another tenant"):
        async with tenant(conn):
            await conn.execute("UPDATE settings SET tenant_id = 'b'")
    assert await everything(db_path, "SELECT tenant_id FROM events WHERE id = 1") == [("a",)]
    assert await everything(db_path, "SELECT tenant_id FROM settings WHERE key = 'theme'") == [
        ("a",),
        ("b",),
    ]


async def test_update_and_delete_touch_only_the_callers_rows(conn, db_path):
    async with tenant(conn):
        await conn.execute("UPDATE events SET payload = 'pwned'")
        await conn.execute("UPDATE events SET payload = 'pwned-b' WHERE tenant_id = 'b'")
        await conn.execute("DELETE FROM events WHERE tenant_id = 'b'")
        await conn.execute("DELETE FROM events WHERE id = 3")
        await conn.execute("UPDATE settings SET value = 'solarized'")
        assert await fetch(conn, "SELECT id, payload FROM events ORDER BY id") == [
            (1, "pwned"),
            (2, "pwned"),
        ]
        await conn.execute("DELETE FROM events WHERE id = 2")
    assert await everything(db_path, "SELECT id, tenant_id, payload FROM events ORDER BY id") == [
        (1, "a", "pwned"),
        (3, "b", "b-1"),
        (4, "b", "b-2"),
        (5, "b", "b-3"),
        (6, "", "empty-tenant"),
    ]
    assert await everything(db_path, "SELECT tenant_id, value FROM settings ORDER BY 1, 2") == [
        ("a", "solarized"),
        ("b", "fr"),
        ("b", "light"),
    ]


async def test_without_rowid_table_is_written_by_its_primary_key(conn, db_path):
    async with tenant(conn, "b"):
        await conn.execute("INSERT INTO settings VALUES ('b', 'tz', 'UTC')")
        await conn.execute("UPDATE settings SET key = 'language' WHERE key = 'lang'")
        await conn.execute("DELETE FROM settings WHERE key = 'theme'")
    assert await everything(db_path, "SELECT * FROM settings ORDER BY 1, 2") == [
        ("a", "theme", "dark"),
        ("b", "language", "fr"),
        ("b", "tz", "UTC"),
    ]


async def test_primary_key_collision_with_another_tenant_does_not_replace_it(conn, db_path):
    # OR REPLACE is not passed through: the nested write aborts instead of deleting b's row.
    with pytest.raises(sqlite3.IntegrityError, match="violates a constraint of events"):
        async with tenant(conn):
            await conn.execute(
                "INSERT OR REPLACE INTO events (id, tenant_id, payload) VALUES (3, 'a', 'x')"
            )
    with pytest.raises(sqlite3.IntegrityError):
        async with tenant(conn):
            await conn.execute("UPDATE OR REPLACE events SET id = 4 WHERE id = 1")
    assert await everything(db_path, "SELECT id, tenant_id FROM events WHERE id IN (1, 3, 4)") == [
        (1, "a"),
        (3, "b"),
        (4, "b"),
    ]


async def test_constraint_error_keeps_sqlites_message_as_a_note(conn):
    with pytest.raises(sqlite3.IntegrityError) as info:
        async with tenant(conn):
            await conn.execute("INSERT INTO events (id, tenant_id) VALUES (1, 'a')")
    assert any("UNIQUE constraint failed: events.id" in note for note in info.value.__notes__)


async def test_failed_write_dooms_the_transaction_even_if_caught(conn, db_path):
    async def body():
        async with tenant(conn):
            await conn.execute("INSERT INTO events (tenant_id, payload) VALUES ('a', 'kept?')")
            # Row 1 moves to id 100, then row 2 collides with it: the statement fails after
            # writing one row, which the statement alone does not undo.
            with pytest.raises(sqlite3.IntegrityError):
                await conn.execute("UPDATE events SET id = 100")

    with pytest.raises(StorageError) as info:
        await body()
    assert info.value.fields["reason"] == "write_failed"
    assert not conn.in_transaction
    assert await everything(db_path, "SELECT id FROM events WHERE tenant_id = 'a' ORDER BY 1") == [
        (1,),
        (2,),
    ]
    assert await everything(db_path, "SELECT count(*) FROM events WHERE payload = 'kept?'") == [
        (0,)
    ]


async def test_direct_calls_of_the_write_function_stay_in_the_tenant(conn, db_path):
    async def body():
        async with tenant(conn):
            # Deleting b's row 3 by key: the tenant is part of the match.
            await conn.execute("SELECT tessera_write('events', 'delete', 3)")
            # A row for b is refused (2 = another tenant).
            row = await fetch(
                conn,
                "SELECT tessera_write('events', 'insert', "
                "NULL, 'b', 'eve', 'planted', 1, '2024-01-01')",
            )
            assert row == [(2,)]

    with pytest.raises(StorageError):
        await body()
    with pytest.raises(sqlite3.OperationalError):
        await conn.execute("SELECT tessera_write('sqlite_master', 'delete', 1)")
    assert await everything(db_path, "SELECT count(*) FROM events WHERE tenant_id = 'b'") == [(3,)]


# ------------------------------------------------------------------ hostile input


async def test_tenant_values_with_quotes_are_values(conn, db_path):
    async with scoped_sqlite_transaction(conn, tenant_id=INJECTION, subject=INJECTION, scopes=[]):
        assert await fetch(conn, "SELECT * FROM events") == []
        assert await fetch(conn, "SELECT tessera_tenant(), tessera_subject()") == [
            (INJECTION, INJECTION)
        ]
        await conn.execute(
            "INSERT INTO events (tenant_id, payload) VALUES (tessera_tenant(), 'quoted')"
        )
        assert await fetch(conn, "SELECT payload FROM events") == [("quoted",)]
    assert await everything(db_path, "SELECT tenant_id FROM events WHERE payload = 'quoted'") == [
        (INJECTION,)
    ]
    assert await everything(db_path, "SELECT count(*) FROM events") == [(len(EVENTS) + 1,)]


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Events",
        "1events",
        "events; DROP TABLE events",
        'ev"ents',
        "main.events",
        "évents",
        "a" * 64,
        "events\n",
        "events--",
    ],
)
async def test_bad_identifiers_are_refused_before_anything_is_created(db_path, name):
    async with aiosqlite.connect(db_path) as conn:
        with pytest.raises(ConfigurationError):
            await install_tenant_views(conn, [name])
        with pytest.raises(ConfigurationError):
            await install_tenant_views(conn, ["settings", name])
        with pytest.raises(ConfigurationError):
            await install_tenant_views(conn, ["events"], tenant_column=name)
        assert await fetch(conn, "SELECT count(*) FROM temp.sqlite_master") == [(0,)]
        assert await fetch(conn, "SELECT count(*) FROM events") == [(len(EVENTS),)]


@pytest.mark.parametrize(
    ("ddl", "reason"),
    [
        ('CREATE TABLE t (id INTEGER PRIMARY KEY, tenant_id TEXT, "Odd" TEXT)', None),
        ('CREATE TABLE t (id INTEGER PRIMARY KEY, tenant_id TEXT, "x; --" TEXT)', None),
        ("CREATE TABLE t (id INTEGER PRIMARY KEY, owner TEXT)", "missing_tenant_column"),
        ("CREATE TABLE t (id INTEGER, tenant_id TEXT)", "no_primary_key"),
        ("CREATE TABLE t (k TEXT PRIMARY KEY, tenant_id TEXT)", "nullable_primary_key"),
        ("CREATE TABLE t (id INTEGER PRIMARY KEY DESC, tenant_id TEXT)", "nullable_primary_key"),
        ("CREATE VIEW t AS SELECT * FROM events", "missing_table"),
        ("CREATE TABLE other (id INTEGER PRIMARY KEY, tenant_id TEXT)", "missing_table"),
    ],
)
async def test_unusable_tables_are_refused(db_path, ddl, reason):
    async with aiosqlite.connect(db_path) as conn:
        await conn.execute(ddl)
        with pytest.raises(ConfigurationError) as info:
            await install_tenant_views(conn, ["t"])
        assert info.value.fields.get("reason") == reason
        assert await fetch(conn, "SELECT count(*) FROM temp.sqlite_master") == [(0,)]


async def test_usable_key_shapes_are_accepted(db_path):
    async with aiosqlite.connect(db_path) as conn:
        await conn.execute("CREATE TABLE t1 (k TEXT NOT NULL PRIMARY KEY, tenant_id TEXT)")
        await conn.execute("CREATE TABLE t2 (id INTEGER PRIMARY KEY AUTOINCREMENT, tenant_id)")
        await install_tenant_views(conn, ["t1", "t2"])


@pytest.mark.parametrize("tables", ["events", [], ()])
async def test_table_list_must_be_a_nonempty_sequence(conn, tables):
    with pytest.raises(ConfigurationError):
        await install_tenant_views(conn, tables)


async def test_empty_tenant_and_bad_subject_are_refused(conn):
    with pytest.raises(ConfigurationError):
        async with scoped_sqlite_transaction(conn, tenant_id="", subject="s", scopes=[]):
            pass
    with pytest.raises(ConfigurationError):
        async with scoped_sqlite_transaction(conn, tenant_id="a", subject=None, scopes=[]):
            pass
    assert not conn.in_transaction


@pytest.mark.parametrize("scopes", ["events:read", ["a b"], ['a"b'], [""], ["a\\b"]])
async def test_malformed_scopes_are_refused(conn, scopes):
    with pytest.raises(ConfigurationError):
        async with scoped_sqlite_transaction(conn, tenant_id="a", subject="s", scopes=scopes):
            pass
    assert not conn.in_transaction


# ------------------------------------------------------------------ documented weaknesses


async def test_main_schema_bypasses_the_views(conn, db_path):
    """Documented: ``main.<table>`` is the real table, for reads and writes."""

    async def body():
        async with tenant(conn):
            assert await fetch(conn, "SELECT count(*) FROM main.events") == [(len(EVENTS),)]
            await conn.execute("UPDATE main.events SET payload = 'bypass' WHERE tenant_id = 'b'")
            assert await fetch(
                conn, "SELECT count(*) FROM main.events WHERE payload = 'bypass'"
            ) == [(3,)]
            raise Rollback

    with pytest.raises(Rollback):
        await body()
    assert await fetch(conn, "SELECT count(*) FROM main.events") == [(len(EVENTS),)]


async def test_a_connection_without_the_views_sees_everything(conn, db_path):
    """Documented: the views exist only on the connections that installed them."""
    async with tenant(conn):
        assert await fetch(conn, "SELECT count(*) FROM events") == [(2,)]
        assert await everything(db_path, "SELECT count(*) FROM events") == [(len(EVENTS),)]


async def test_sql_on_the_connection_can_drop_the_filter(conn):
    """Documented: a guard against forgotten WHERE clauses, not against hostile SQL."""
    await conn.execute("DROP VIEW temp.events")
    assert await fetch(conn, "SELECT count(*) FROM events") == [(len(EVENTS),)]
    await install_tenant_views(conn, ["events"])
    assert await fetch(conn, "SELECT count(*) FROM events") == [(0,)]


# ------------------------------------------------------------------ mechanics


async def test_tenant_index_is_used_through_the_view(conn):
    async def plan(sql: str) -> list[str]:
        return [row[3] for row in await fetch(conn, "EXPLAIN QUERY PLAN " + sql)]

    through_view = [
        *await plan("SELECT * FROM events"),
        *await plan("SELECT count(*) FROM events"),
        *await plan("SELECT payload FROM events WHERE created_at >= '2024-03-01'"),
        *await plan("SELECT * FROM events ORDER BY created_at"),
    ]
    print("\n".join(through_view))
    assert all(
        "USING" in d and "INDEX events_tenant_created (tenant_id=?" in d for d in through_view
    )
    assert not any(d.startswith("SCAN") for d in through_view)
    # Control: without the tenant predicate the same table is scanned.
    assert any(d.startswith("SCAN") for d in await plan("SELECT * FROM main.events"))


async def test_rowcount_and_returning_do_not_report_writes_through_views(conn):
    """Documented: SQLite does not count rows handled by INSTEAD OF triggers."""
    async with tenant(conn):
        cursor = await conn.execute("UPDATE events SET payload = 'seen'")
        assert cursor.rowcount == 0
        returned = await fetch(
            conn, "INSERT INTO events (tenant_id, payload) VALUES ('a', 'r') RETURNING id"
        )
        assert returned == [(None,)]
        assert await fetch(conn, "SELECT count(*) FROM events WHERE payload = 'seen'") == [(2,)]


async def test_install_is_idempotent_and_refreshes_columns(conn, db_path):
    await install_tenant_views(conn, ["events", "events"])
    async with aiosqlite.connect(db_path) as admin:
        await admin.execute("ALTER TABLE events ADD COLUMN note TEXT")
        await admin.commit()
    await install_tenant_views(conn, ["events"])
    async with tenant(conn):
        await conn.execute("INSERT INTO events (tenant_id, note) VALUES ('a', 'fresh')")
        assert await fetch(conn, "SELECT count(*) FROM events WHERE note = 'fresh'") == [(1,)]


async def test_row_factory_of_the_application_does_not_matter(db_path):
    async with aiosqlite.connect(db_path) as conn:
        conn.row_factory = lambda cursor, row: dict(
            zip([c[0] for c in cursor.description], row, strict=True)
        )
        await install_tenant_views(conn, ["events"])
        async with tenant(conn, "b"):
            rows = await conn.execute_fetchall("SELECT count(*) AS n FROM events")
    assert rows == [{"n": 3}]


async def test_the_registry_does_not_keep_connections_alive(db_path):
    connection = await aiosqlite.connect(db_path)
    await install_tenant_views(connection, ["events"])
    ref = weakref.ref(connection)
    assert connection in sqlite_scope._CELLS
    await connection.close()
    del connection
    for _ in range(100):  # the worker thread lets go of the connection when it stops
        gc.collect()
        if ref() is None:
            break
        await asyncio.sleep(0.01)
    assert ref() is None  # and with it, its entry in the weak registry
