"""The SQL plumbing around the contract: URLs, SQLite settings, packaging, public names."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import text

import tessera.storage
from tessera.errors import ConfigurationError, StorageError
from tessera.storage.engine import BUSY_TIMEOUT_MS, make_engine, parse_url
from tessera.storage.migrate import HEAD_REVISION, SCRIPT_LOCATION, script_head
from tessera.storage.sql import open_store


def test_public_names():
    assert sorted(tessera.storage.__all__) == [
        "AUTH_METHODS",
        "AuthorizationCode",
        "AuthorizationStore",
        "Client",
        "ClientAuthMethod",
        "ClientStore",
        "Consent",
        "ConsentStore",
        "FamilyToken",
        "KeyState",
        "KeyStore",
        "LeaseStore",
        "LoginSession",
        "OpaqueToken",
        "OpaqueTokenStore",
        "PendingRequest",
        "RefreshFamily",
        "RefreshStore",
        "RefreshToken",
        "RevocationStore",
        "SessionStore",
        "Store",
        "StoredKey",
        "Tenant",
        "TenantStore",
        "TokenFormat",
        "User",
        "UserStore",
    ]


def test_records_import_without_database_drivers():
    code = (
        "import sys, tessera.storage, tessera.storage.records;"
        "bad = [m for m in ('sqlalchemy', 'alembic', 'aiosqlite', 'asyncpg') if m in sys.modules];"
        "print(','.join(bad)); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(  # our own interpreter and a literal script
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"records imported drivers: {result.stdout}"


def test_head_revision_is_the_newest_packaged_script():
    assert script_head() == HEAD_REVISION


def test_migrations_ship_inside_the_package():
    assert (SCRIPT_LOCATION / "env.py").is_file()
    assert (SCRIPT_LOCATION / "script.py.mako").is_file()
    assert any((SCRIPT_LOCATION / "versions").glob("0001_*.py"))


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite"),
        ("postgresql://u@h/db", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg"),
    ],
)
def test_urls_get_their_async_driver(url, driver):
    assert parse_url(url).drivername == driver


@pytest.mark.parametrize(
    "url", ["mysql://u:hunter2@h/db", "postgresql+psycopg://u:hunter2@h/db", "not a url"]
)
def test_other_databases_are_refused_without_echoing_the_url(url):
    with pytest.raises(ConfigurationError) as caught:
        parse_url(url)
    assert "hunter2" not in str(caught.value)


async def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("PRAGMA journal_mode")) == "wal"
            assert await conn.scalar(text("PRAGMA foreign_keys")) == 1
            assert await conn.scalar(text("PRAGMA busy_timeout")) == BUSY_TIMEOUT_MS
    finally:
        await engine.dispose()


async def test_an_unreachable_database_is_a_storage_error():
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    with pytest.raises(StorageError) as caught:
        await open_store("postgresql+asyncpg://postgres:hunter2@127.0.0.1:9/none")
    assert "hunter2" not in str(caught.value)
