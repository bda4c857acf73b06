"""Helpers for the data API example's tests: databases, tokens, the app in-process or served.

A module imported by name (like ``served``), not a conftest. PostgreSQL: each use gets a
fresh database AND a fresh API role (roles are cluster-global, so the names are random), both
dropped at the end; unreachable PostgreSQL skips locally and FAILS under CI.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from examples.data_api.app import create_app
from examples.data_api.dataset import DatasetSpec
from examples.data_api.loader import Member, load
from examples.data_api.migrate import upgrade
from examples.data_api.settings import Settings
from examples.data_api.urls import DatabaseUrl
from fastapi import FastAPI

import pg_fresh
from served import free_port, stop, wait_healthy
from tessera.jose import KeySet, SigningKey, encode_jwt

_T = TypeVar("_T")
ROOT = Path(__file__).resolve().parents[2]
ISSUER = "https://issuer.example.test/t/default"
AUDIENCE = "https://data-api.example.test"
ALL_SCOPES = "data:read data:export data:admin"


@dataclass(frozen=True)
class Backend:
    name: str
    admin: DatabaseUrl
    """The owner (PostgreSQL: a superuser): migrations, generation, out-of-band changes."""
    api: DatabaseUrl
    """What the app connects as (PostgreSQL: the confined role)."""

    def fetch(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        """Run SQL as the administrator, outside the app (another process, in effect)."""
        if self.name == "sqlite":
            with contextlib.closing(sqlite3.connect(self.admin.sqlite_path, timeout=10)) as db:
                rows = db.execute(sql.replace("$1", "?").replace("$2", "?"), args).fetchall()
                db.commit()
                return rows
        return _blocking(_pg_fetch(self.admin.asyncpg_dsn, sql, *args))

    def count(self, tenant_id: str) -> int:
        return int(self.fetch("SELECT count(*) FROM events WHERE tenant_id = $1", tenant_id)[0][0])

    def add_member(self, tenant_id: str, subject: str, *roles: str) -> None:
        self.fetch(
            "INSERT INTO memberships (tenant_id, subject, roles) VALUES ($1, $2, $3) "
            "ON CONFLICT (tenant_id, subject) DO UPDATE SET roles = excluded.roles",
            tenant_id,
            subject,
            " ".join(roles),
        )


def _blocking(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _pg_fetch(dsn: str, sql: str, *args: object) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        return [tuple(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


@contextlib.contextmanager
def postgres_backend() -> Iterator[Backend]:
    """A fresh, migrated database and API role; both dropped at the end."""
    role = f"data_api_test_{secrets.token_hex(5)}"
    with pg_fresh.fresh_database_sync("data_api_test", [role]) as fresh:
        admin = DatabaseUrl.parse(fresh.render_as_string(hide_password=False))
        asyncio.run(upgrade(admin, api_role=role))
        # A password, so the tests also run where the cluster does not trust local logins.
        password = secrets.token_urlsafe(18)
        asyncio.run(pg_fresh.admin_execute(fresh, f"ALTER ROLE \"{role}\" PASSWORD '{password}'"))
        api_url = fresh.set(username=role, password=password)
        yield Backend(
            "postgres", admin, DatabaseUrl.parse(api_url.render_as_string(hide_password=False))
        )


@contextlib.contextmanager
def sqlite_backend(directory: Path) -> Iterator[Backend]:
    url = DatabaseUrl.parse(f"sqlite:///{directory / 'data.db'}")
    asyncio.run(upgrade(url))
    yield Backend("sqlite", url, url)


@contextlib.contextmanager
def backend(name: str, directory: Path) -> Iterator[Backend]:
    if name == "postgres":
        with postgres_backend() as made:
            yield made
    else:
        with sqlite_backend(directory) as made:
            yield made


def generate(
    target: Backend, rows: int, members: Sequence[str], tenants: Sequence[str], seed: int = 7
) -> None:
    spec = DatasetSpec(rows=rows, tenants=tuple(tenants), seed=seed)
    asyncio.run(load(target.admin, spec, [Member.parse(m) for m in members]))


@dataclass
class LocalIssuer:
    """Signs tokens with a key the app trusts (through ``Settings.jwks``): forged claims."""

    remember: Callable[[str], str] = lambda token: token
    key: SigningKey = field(default_factory=lambda: SigningKey.generate("ES256"))

    @property
    def jwks(self) -> dict[str, Any]:
        return KeySet([self.key.public]).to_jwks()

    def token(
        self,
        subject: str,
        tenant_id: str | None,
        scope: str = ALL_SCOPES,
        *,
        key: SigningKey | None = None,
        lifetime: int = 300,
        issued: int | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time()) if issued is None else issued
        body: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "client_id": "tests",
            "scope": scope,
            "iat": now,
            "exp": now + lifetime,
            "jti": secrets.token_hex(8),
        }
        if tenant_id is not None:
            body["tenant_id"] = tenant_id
        return self.remember(encode_jwt(body | claims, key or self.key))

    def bearer(
        self, subject: str, tenant_id: str | None, scope: str = ALL_SCOPES
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(subject, tenant_id, scope)}"}


def settings(target: Backend, issuer: LocalIssuer, **overrides: Any) -> Settings:
    return Settings(
        database=target.api,
        issuer=ISSUER,
        audience=AUDIENCE,
        jwks=issuer.jwks,
        pool_size=4,
        **overrides,
    )


@contextlib.asynccontextmanager
async def running(app_settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app in this process: its lifespan entered, an httpx client over ASGI."""
    app = create_app(app_settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://data-api.test"
        ) as http,
    ):
        yield app, http


def clean_env(**extra: str) -> dict[str, str]:
    """This environment minus Tessera's and the example's settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TESSERA_", "DATA_API_"))}
    return env | extra


def run_cli(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m examples.data_api …``; URLs with passwords go through ``env``, not argv."""
    return subprocess.run(
        [sys.executable, "-m", "examples.data_api", *args],
        cwd=ROOT,
        env=clean_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextlib.contextmanager
def served_api(
    args: Sequence[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``python -m examples.data_api serve`` on a free port; stderr goes to ``log``."""
    port = free_port()
    argv = [sys.executable, "-m", "examples.data_api", "serve", *args]
    argv += ["--port", str(port), "--log-level", "warning"]
    with log.open("wb") as errors:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=clean_env(**(env or {})), stdout=subprocess.DEVNULL, stderr=errors
        )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_healthy(f"{base}/healthz", process)
        except BaseException:
            print(log.read_text(errors="replace")[-4000:])
            raise
        yield base, process
    finally:
        stop(process)


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (peak resident) of a process, in KiB."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in {"VmRSS", "VmHWM"}:
            values[name] = int(rest.split()[0])
    return values


class RssSampler(threading.Thread):
    """Samples a process's VmRSS every few milliseconds; ``peak`` is the highest seen."""

    def __init__(self, pid: int, interval: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, memory_kib(self.pid)["VmRSS"])
                self.samples += 1
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()
