"""Shared fixtures: shared test vectors, database backends, and the suite-wide log audit.

Databases: each storage/server test runs on a fresh SQLite file AND a fresh PostgreSQL
database. PostgreSQL comes from ``TESSERA_TEST_DATABASE_URL`` (default: the local ``test``
database); each test gets its own ``CREATE DATABASE``, dropped after. Unreachable PostgreSQL
skips the PostgreSQL half, except where ``CI`` is set: there it is a failure.

Logs: for the whole session, structlog writes JSON lines to one file; at the end every line
is searched for every token and secret the tests issued (and for JWT-shaped strings). One
hit fails the run (DESIGN.md "Logs and audit").
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pg_fresh import fresh_database
from tessera.logging import configure_logging
from tessera.storage.migrate import upgrade
from tessera.storage.sql import SqlStore, open_store


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request, tmp_path) -> AsyncIterator[str]:
    """The URL of a fresh, EMPTY (un-migrated) database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'tessera.db'}"
        return
    async with fresh_database("tessera_test") as url:
        yield url.render_as_string(hide_password=False)


@pytest.fixture
async def store(database_url) -> AsyncIterator[SqlStore]:
    """A migrated store on each backend, closed after the test."""
    await upgrade(database_url)
    opened = await open_store(database_url)
    try:
        yield opened
    finally:
        await opened.close()


# ------------------------------------------------------------------ suite-wide log audit

ISSUED_SECRETS: set[str] = set()
"""Every token and secret the tests issued; fixtures add to it (see tests/server)."""

_JWT_SHAPED = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def remember_secret(value: str) -> str:
    """Register a token or secret that must never appear in any log line."""
    ISSUED_SECRETS.add(value)
    return value


def pytest_configure(config: pytest.Config) -> None:
    # One file per session: two pytest runs in one checkout must not audit each other's logs.
    log_path = Path(tempfile.mkdtemp(prefix="tessera-pytest-logs-")) / "logs.jsonl"
    handle = log_path.open("a", encoding="utf-8")
    config.stash[_LOG_KEY] = (log_path, handle)
    configure_logging("debug", stream=handle)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    stash = session.config.stash.get(_LOG_KEY, None)
    if stash is None:
        return
    log_path, handle = stash
    handle.close()
    text_ = log_path.read_text(encoding="utf-8")
    hits = [s[:12] + "…" for s in ISSUED_SECRETS if s in text_]
    hits += [m.group(0)[:12] + "…" for m in _JWT_SHAPED.finditer(text_)]
    lines = text_.count("\n")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"log audit: {lines} log lines checked against {len(ISSUED_SECRETS)} issued "
            f"tokens/secrets: {len(hits)} hits"
        )
    if hits:
        if reporter is not None:
            reporter.write_line(f"log audit FAILED: secret-shaped values in logs: {hits[:5]}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_LOG_KEY = pytest.StashKey[tuple[Path, object]]()


@pytest.fixture(autouse=True)
def _session_log_capture(request: pytest.FixtureRequest) -> None:
    """Code under test may reconfigure logging (``tessera serve`` does); point it back."""
    stash = request.config.stash.get(_LOG_KEY, None)
    if stash is not None:
        configure_logging("debug", stream=stash[1])  # type: ignore[arg-type]


@pytest.fixture
def secret_registry():
    """``secret_registry(value)`` registers a token/secret that must never reach a log."""
    return remember_secret
