"""``python -m bench.data_api``: what authorization costs the example data API (issue 7 §5).

The app is ``examples.data_api`` on PostgreSQL exactly as served (verifier middleware, the
membership cache, scopes, Cedar policies, every query in a transaction under row-level
security as a confined role), called in-process through its ASGI interface: no HTTP server
and no network in the denominator, so the auth fraction is the stricter one.

Three measurements, interleaved repeats, median reported:

1. **Auth per request**: ``verify`` (same token: cache hit) + membership (cache hit) + scope
   + Cedar policy + the decision log, timed directly in a loop, the same steps the request
   runs. Divided by the time of (a) a small JSON request (``GET /events?limit=10``) and
   (b) a 10,000-row NDJSON export, each timed end to end (body fully consumed). Also the
   difference against the same app with authentication and authorization bypassed (a fixed
   principal; the query still runs under RLS): a second, independent estimate.
2. **RLS cost**: export throughput (rows/s) of a large tenant with row-level security on and
   then off (``ALTER TABLE events DISABLE ROW LEVEL SECURITY`` by the owner between runs;
   the queries name the tenant themselves, so the result is identical). Measured through
   the app and at the database layer alone.

Targets (issue 7): auth ≤ 10 % of (a) with repeated tokens, ≤ 1 % of (b); RLS ≤ 10 % of
export throughput.

Needs PostgreSQL (``--database-url``, default ``TESSERA_TEST_DATABASE_URL`` or the local
``test`` database as ``postgres``). A fresh database and API role are created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import secrets
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from examples.data_api.app import create_app
from examples.data_api.dataset import DatasetSpec
from examples.data_api.filters import ExportWindow, parse_filter
from examples.data_api.loader import Member, load
from examples.data_api.migrate import upgrade
from examples.data_api.queries import export_rows
from examples.data_api.routes import router
from examples.data_api.settings import Settings
from examples.data_api.store import Store, open_store, session_for
from examples.data_api.urls import DatabaseUrl
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.engine import make_url

from bench._asgi import call
from bench._sqlite_views import ViewCost, measure_views
from tessera.authz import Authorizer, Principal, Resource
from tessera.authz.fastapi import AUTHORIZER_STATE
from tessera.jose import KeySet, SigningKey, encode_jwt
from tessera.logging import configure_logging
from tessera.verify import BearerAuthMiddleware, Verifier

ISSUER = "https://auth.example.test/t/default"
AUDIENCE = "https://data.example.test"
SUBJECT = "bench-analyst"
SMALL_TENANT = "default"
EXPORT_TENANT = "bench10k"
EXPORT_ROWS = 10_000
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def _pg_url() -> str:
    raw = os.environ.get("TESSERA_TEST_DATABASE_URL", DEFAULT_PG)
    return raw.replace("postgresql+asyncpg://", "postgresql://")


# --- in-process ASGI calls -------------------------------------------------------------


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[FastAPI]:
    async with app.router.lifespan_context(app):
        yield app


def _returning(principal: Principal) -> Callable[[], Principal]:
    def fixed() -> Principal:
        return principal

    return fixed


def bypassed(settings: Settings, principals: dict[str, Principal]) -> FastAPI:
    """The same app with no authentication or authorization: a fixed principal per path.

    The middleware is removed and every ``authorize(...)`` dependency overridden; the handler,
    the query under RLS and the encoding are unchanged. The ceiling the auth cost is taken from.
    """
    app = create_app(settings)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not BearerAuthMiddleware]
    # The example's router (FastAPI includes routers lazily: app.routes does not list them).
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        principal = principals.get(route.path)
        if principal is None:
            continue
        for dependency in route.dependant.dependencies:
            original = dependency.call
            if original is not None and original.__qualname__.startswith("authorize."):
                app.dependency_overrides[original] = _returning(principal)
    return app


# --- the measurements -------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


async def timed(n: int, step: Callable[[], Awaitable[object]]) -> list[float]:
    """``n`` sequential runs of ``step``; seconds each."""
    out = []
    for _ in range(n):
        start = time.perf_counter()
        await step()
        out.append(time.perf_counter() - start)
    return out


@dataclass
class Figures:
    auth_list_us: list[float] = field(default_factory=list)
    auth_export_us: list[float] = field(default_factory=list)
    small_us: list[float] = field(default_factory=list)
    small_bypass_us: list[float] = field(default_factory=list)
    export_ms: list[float] = field(default_factory=list)
    export_bypass_ms: list[float] = field(default_factory=list)
    rls_on_http: list[float] = field(default_factory=list)
    rls_off_http: list[float] = field(default_factory=list)
    rls_on_db: list[float] = field(default_factory=list)
    rls_off_db: list[float] = field(default_factory=list)
    big_tenant_rows: int = 0


def mint(key: SigningKey, tenant: str, scope: str) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": SUBJECT,
        "aud": AUDIENCE,
        "exp": now + 3600,
        "iat": now,
        "nbf": now,
        "jti": secrets.token_hex(16),
        "client_id": "bench",
        "scope": scope,
        "tenant_id": tenant,
    }
    return encode_jwt(claims, key, typ="at+jwt")


async def auth_steps(
    verifier: Verifier,
    authorizer: Authorizer,
    token: str,
    action: str,
    tenant: str,
    context: dict[str, object] | None,
) -> None:
    """What a request pays for auth: verify, membership, scope, policy, decision log."""
    claims = await verifier.verify_async(token)
    await authorizer.authorize(claims, action, Resource("Dataset", "events", tenant), context)


async def export_db(store: Store, principal: Principal, batch: int) -> int:
    """The export's query alone: rows streamed from the database, nothing encoded."""
    rows = 0
    window = parse_filter(None, None, None)
    async with session_for(store, principal) as session:
        async for chunk in export_rows(
            session, principal.verified_tenant or "", window, batch=batch
        ):
            rows += len(chunk)
    return rows


async def measure(settings: Settings, key: SigningKey, admin: DatabaseUrl, args: Any) -> Figures:
    figures = Figures()
    small_token = mint(key, SMALL_TENANT, "data:read data:export")
    export_token = mint(key, EXPORT_TENANT, "data:read data:export")
    big_token = mint(key, args.big_tenant, "data:read data:export")
    scopes = frozenset({"data:read", "data:export"})

    def principal(tenant: str) -> Principal:
        hint = Principal(subject=SUBJECT, client_id="bench", tenant_id=tenant, scopes=scopes)
        return hint.with_membership(frozenset({"admin"}))

    # The bypassed app answers /events for the small tenant and exports for the 10k tenant.
    fixed = {"/events": principal(SMALL_TENANT), "/events/export": principal(EXPORT_TENANT)}
    app = create_app(settings)
    bare = bypassed(settings, fixed)
    bare_big = bypassed(settings, {"/events/export": principal(args.big_tenant)})
    keys = KeySet([key.public])
    verifier = Verifier(
        issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256"], keys=keys, cache_size=10_000
    )
    export_context = ExportWindow.of(parse_filter(None, None, None)).as_context()
    owner = await asyncpg.connect(admin.asyncpg_dsn)
    # Opened while RLS is on: the store refuses to open on a table without it (as it should).
    store = await open_store(settings.database, pool_size=1)
    try:
        async with running(app), running(bare), running(bare_big):
            authorizer = getattr(app.state, AUTHORIZER_STATE)

            async def small() -> None:
                got = await call(app, "/events", "limit=10", small_token)
                assert got.status == 200, got.status

            async def small_bare() -> None:
                got = await call(bare, "/events", "limit=10", None)
                assert got.status == 200, got.status

            async def export(target: Any, token: str | None, rows: int) -> None:
                got = await call(target, "/events/export", "format=ndjson", token)
                assert (got.status, got.lines) == (200, rows), (got.status, got.lines)

            # Warm-up: JIT-free Python still has caches (plans, membership, verifier, pools).
            for _ in range(50):
                await small()
                await small_bare()
                await auth_steps(verifier, authorizer, small_token, "data.list", SMALL_TENANT, None)
            await export(app, export_token, EXPORT_ROWS)
            await export(bare, None, EXPORT_ROWS)
            figures.big_tenant_rows = await export_db(
                store, principal(args.big_tenant), settings.export_batch
            )
            gc.collect()
            for round_ in range(args.repeat):
                print(f"  round {round_ + 1}/{args.repeat}", file=sys.stderr, flush=True)
                runs = await timed(
                    args.requests,
                    lambda: auth_steps(
                        verifier, authorizer, small_token, "data.list", SMALL_TENANT, None
                    ),
                )
                figures.auth_list_us.append(median(runs) * 1e6)
                runs = await timed(
                    args.requests,
                    lambda: auth_steps(
                        verifier,
                        authorizer,
                        export_token,
                        "data.export",
                        EXPORT_TENANT,
                        export_context,
                    ),
                )
                figures.auth_export_us.append(median(runs) * 1e6)
                figures.small_us.append(median(await timed(args.requests, small)) * 1e6)
                figures.small_bypass_us.append(median(await timed(args.requests, small_bare)) * 1e6)
                figures.export_ms.append(
                    median(await timed(args.exports, lambda: export(app, export_token, 10_000)))
                    * 1e3
                )
                figures.export_bypass_ms.append(
                    median(await timed(args.exports, lambda: export(bare, None, 10_000))) * 1e3
                )
                for rls in (True, False):
                    await owner.execute(
                        "ALTER TABLE events "
                        + ("ENABLE" if rls else "DISABLE")
                        + " ROW LEVEL SECURITY"
                    )
                    big = figures.big_tenant_rows
                    start = time.perf_counter()
                    await export(app, big_token, big)
                    http_rate = big / (time.perf_counter() - start)
                    start = time.perf_counter()
                    got = await export_db(store, principal(args.big_tenant), settings.export_batch)
                    db_rate = got / (time.perf_counter() - start)
                    assert got == big
                    (figures.rls_on_http if rls else figures.rls_off_http).append(http_rate)
                    (figures.rls_on_db if rls else figures.rls_off_db).append(db_rate)
                await owner.execute("ALTER TABLE events ENABLE ROW LEVEL SECURITY")
    finally:
        await owner.execute("ALTER TABLE events ENABLE ROW LEVEL SECURITY")
        await owner.close()
        await store.close()
    return figures


# --- set-up and report ------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fresh_database(base: str) -> AsyncIterator[tuple[DatabaseUrl, DatabaseUrl, str]]:
    """A new database owned by the admin, and a confined API role; both dropped at the end."""
    url = make_url(base)
    name = f"tessera_bench_data_{secrets.token_hex(4)}"
    role = f"bench_api_{secrets.token_hex(4)}"
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        db_url = url.set(drivername="postgresql", database=name)
        owner = DatabaseUrl.parse(db_url.render_as_string(hide_password=False))
        api = DatabaseUrl.parse(
            db_url.set(username=role, password=None).render_as_string(hide_password=False)
        )
        try:
            yield owner, api, role
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
    finally:
        await admin.close()


def report(f: Figures, views: ViewCost | None, args: Any) -> dict[str, Any]:
    auth_a, auth_b = median(f.auth_list_us), median(f.auth_export_us)
    small, small_bare = median(f.small_us), median(f.small_bypass_us)
    export, export_bare = median(f.export_ms) * 1e3, median(f.export_bypass_ms) * 1e3
    on_http, off_http = median(f.rls_on_http), median(f.rls_off_http)
    on_db, off_db = median(f.rls_on_db), median(f.rls_off_db)
    result = {
        "auth_small_us": auth_a,
        "auth_export_us": auth_b,
        "small_request_us": small,
        "small_request_bypassed_us": small_bare,
        "export_10k_us": export,
        "export_10k_bypassed_us": export_bare,
        "auth_fraction_small": auth_a / small,
        "auth_fraction_small_by_difference": (small - small_bare) / small,
        "auth_fraction_export": auth_b / export,
        "auth_fraction_export_by_difference": (export - export_bare) / export,
        "big_tenant_rows": f.big_tenant_rows,
        "rls_on_rows_per_s_http": on_http,
        "rls_off_rows_per_s_http": off_http,
        "rls_on_rows_per_s_db": on_db,
        "rls_off_rows_per_s_db": off_db,
        "rls_cost_http": 1 - on_http / off_http,
        "rls_cost_db": 1 - on_db / off_db,
        "raw": dict(vars(f)),
    }
    if views is not None:
        result |= {
            "sqlite_views_rows_per_s": views.views,
            "sqlite_plain_rows_per_s": views.plain,
            "sqlite_views_cost": views.cost,
        }
    if args.json:
        print(json.dumps(result, indent=2))
        return result

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    print(
        f"\ndata API on PostgreSQL, {args.rows:,} event rows, in-process ASGI; "
        f"median of {args.repeat} rounds ({args.requests} requests, {args.exports} exports each)\n"
    )
    print("auth (verify hit + membership hit + scope + Cedar + decision log)")
    print(f"  for data.list    {auth_a:8.1f} µs   for data.export {auth_b:8.1f} µs")
    print(f"(a) GET /events?limit=10        {small:9.1f} µs   bypassed {small_bare:9.1f} µs")
    print(
        f"    auth fraction  {auth_a / small:6.1%} (timed)   "
        f"{(small - small_bare) / small:6.1%} (by difference)   target ≤ 10 %  "
        f"{verdict(auth_a / small <= 0.10)}"
    )
    print(
        f"(b) 10,000-row NDJSON export  {export / 1e3:9.1f} ms   "
        f"bypassed {export_bare / 1e3:9.1f} ms"
    )
    print(
        f"    auth fraction  {auth_b / export:6.2%} (timed)   "
        f"{(export - export_bare) / export:6.2%} (by difference)   target ≤ 1 %   "
        f"{verdict(auth_b / export <= 0.01)}"
    )
    print(f"RLS: export of tenant {args.big_tenant!r}, {f.big_tenant_rows:,} rows")
    print(
        f"    through the app  on {on_http:10,.0f} rows/s   off {off_http:10,.0f} rows/s   "
        f"cost {1 - on_http / off_http:6.1%}   target ≤ 10 %  "
        f"{verdict(1 - on_http / off_http <= 0.10)}"
    )
    print(
        f"    database alone   on {on_db:10,.0f} rows/s   off {off_db:10,.0f} rows/s   "
        f"cost {1 - on_db / off_db:6.1%}"
    )
    if views is not None:
        print(f"SQLite tenant views, database alone: {args.big_tenant!r}, {views.rows:,} rows")
        print(
            f"    views        {views.views:10,.0f} rows/s   plain {views.plain:10,.0f} rows/s   "
            f"cost {views.cost:6.1%}"
        )
    return result


def main_sync(args: Any) -> None:
    # As served: JSON log lines (decision log included) written by a background thread.
    with open(os.devnull, "w") as sink:  # noqa: PTH123 - a stream, not a path operation
        close_logs = configure_logging("info", sink, background=True)
        try:
            asyncio.run(run(args))
        finally:
            close_logs()


async def run(args: Any) -> None:
    key = SigningKey.generate("ES256")
    jwks = KeySet([key.public]).to_jwks()
    async with fresh_database(args.database_url) as (owner, api, role):
        print(f"migrating and loading {args.rows:,} rows …", file=sys.stderr, flush=True)
        await upgrade(owner, api_role=role)
        members = [
            Member(SMALL_TENANT, SUBJECT, ("admin",)),
            Member(EXPORT_TENANT, SUBJECT, ("admin",)),
            Member(args.big_tenant, SUBJECT, ("admin",)),
        ]
        await load(owner, DatasetSpec(rows=args.rows), members)
        await load(owner, DatasetSpec(rows=EXPORT_ROWS, tenants=(EXPORT_TENANT,), seed=11), [])
        settings = Settings(
            database=api,
            issuer=ISSUER,
            audience=AUDIENCE,
            jwks=jwks,
            pool_size=4,
        )
        figures = await measure(settings, key, owner, args)
    views = None
    if not args.no_sqlite:
        print(f"SQLite: loading {args.rows:,} rows …", file=sys.stderr, flush=True)
        views = await measure_views(args.rows, args.big_tenant, args.repeat, batch=2_000)
    report(figures, views, args)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.data_api", description=__doc__)
    parser.add_argument("--database-url", default=_pg_url(), help="PostgreSQL admin URL")
    parser.add_argument("--rows", type=int, default=1_000_000, help="event rows to generate")
    parser.add_argument("--big-tenant", default="acme", help="tenant exported for RLS cost")
    parser.add_argument("--requests", type=int, default=1000, help="small requests per round")
    parser.add_argument("--exports", type=int, default=10, help="10k exports per round")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (median reported)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite views part")
    args = parser.parse_args(argv)
    main_sync(args)


if __name__ == "__main__":
    main()
