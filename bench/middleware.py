"""``python -m bench.middleware``: what Tessera's bearer middleware costs a FastAPI endpoint.

Two measurements. ``--http`` (issue 4's: an endpoint's requests/s): the app served by
uvicorn pinned to one core, wrk on the other, 10 s per point, with and without the
middleware and the same token each time, interleaved repeats. Default (stricter, no server
cost to dilute the ratio): the app called in-process through its ASGI interface, three ways
in one run, interleaved:

- (a) without the middleware (no authentication at all: the ceiling);
- (b) with ``BearerAuthMiddleware`` and the same token on every request (cache hits);
- (c) with the middleware and a fresh token per request (a full ES256 verify each time).

Prints requests/s and the ratios b/a (issue 4's target: ≥ 0.9) and c/a.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from bench._asgi import call
from bench._load import Load, run_load
from bench._procs import free_port, pin, start, wait_http
from tessera.jose import KeySet, SigningKey, encode_jwt
from tessera.verify import BearerAuthMiddleware, Verifier

ISSUER = "https://auth.example.test/t/acme"
AUDIENCE = "https://api.example.test"


def build_app() -> FastAPI:
    app = FastAPI()

    @app.get("/rows")
    async def rows() -> dict[str, Any]:
        return {"rows": [{"id": 1, "value": "a"}, {"id": 2, "value": "b"}], "next": None}

    return app


def mint(key: SigningKey, n: int) -> list[str]:
    now = int(time.time())
    return [
        encode_jwt(
            {
                "iss": ISSUER,
                "sub": f"user-{i}",
                "aud": AUDIENCE,
                "exp": now + 600,
                "iat": now,
                "nbf": now,
                "jti": f"j{i}",
                "client_id": "bench",
                "scope": "data:read",
                "tenant_id": "acme",
            },
            key,
        )
        for i in range(n)
    ]


class Caller:
    """Drives an ASGI app through ``GET /rows``; counts successful responses."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.ok = 0

    async def __call__(self, token: str | None) -> None:
        if (await call(self.app, "/rows", token=token)).status == 200:
            self.ok += 1


async def _batch(caller: Caller, tokens: list[str | None]) -> float:
    start = time.perf_counter()
    for token in tokens:
        await caller(token)
    return len(tokens) / (time.perf_counter() - start)


async def run(requests: int, repeats: int) -> dict[str, list[float]]:
    key = SigningKey.generate("ES256")
    keys = KeySet([key.public])
    app = build_app()
    plain = Caller(app)
    repeated = Caller(
        BearerAuthMiddleware(
            app, Verifier(issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256"], keys=keys)
        )
    )
    fresh = Caller(
        BearerAuthMiddleware(
            app, Verifier(issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256"], keys=keys)
        )
    )
    one = mint(key, 1)[0]
    fresh_tokens: list[str | None] = list(mint(key, requests * repeats))
    rates: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    await _batch(plain, [None] * 200)  # warm-up
    await _batch(repeated, [one] * 200)
    gc.collect()
    gc.disable()
    try:
        for r in range(repeats):
            rates["a"].append(await _batch(plain, [None] * requests))
            rates["b"].append(await _batch(repeated, [one] * requests))
            chunk = fresh_tokens[r * requests : (r + 1) * requests]
            rates["c"].append(await _batch(fresh, chunk))
    finally:
        gc.enable()
    total = requests * repeats
    if repeated.ok < total or fresh.ok < total:
        raise SystemExit("sanity: some authenticated requests were refused")
    return rates


def plain_app() -> FastAPI:
    """uvicorn factory: the endpoint alone."""
    return build_app()


def guarded_app() -> Any:
    """uvicorn factory: the endpoint behind the middleware (keys from the environment)."""
    keys = KeySet.from_jwks(os.environ["TESSERA_BENCH_JWKS"])
    verifier = Verifier(issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256"], keys=keys)
    return BearerAuthMiddleware(build_app(), verifier)


def run_http(duration: float, repeats: int, connections: int) -> dict[str, list[float]]:
    key = SigningKey.generate("ES256")
    token = mint(key, 1)[0]
    env = {**os.environ, "TESSERA_BENCH_JWKS": json.dumps(KeySet([key.public]).to_jwks())}
    rates: dict[str, list[float]] = {"a": [], "b": []}
    with tempfile.TemporaryDirectory(prefix="tessera-bench-mw-") as tmp:
        work = Path(tmp)
        children = {}
        try:
            for name, factory in (("a", "plain_app"), ("b", "guarded_app")):
                port = free_port()
                argv = [sys.executable, "-m", "uvicorn", f"bench.middleware:{factory}"]
                argv += ["--factory", "--port", str(port), "--log-level", "warning"]
                argv += ["--no-access-log"]
                child = start(name, pin("0", argv), env=env, log_path=work / f"{name}.log")
                children[name] = (child, port)
                wait_http(child, f"http://127.0.0.1:{port}/rows")
            for _ in range(repeats):
                for name, (_child, port) in children.items():
                    load = Load(
                        url=f"http://127.0.0.1:{port}/rows",
                        headers={"Authorization": f"Bearer {token}"},
                        bodies=[],
                        connections=connections,
                        duration=duration,
                        method="GET",
                    )
                    result = run_load(load, cores="1", workdir=work)
                    if result.errors:
                        raise SystemExit(f"{name}: {result.errors} errors")
                    rates[name].append(result.rps)
        finally:
            for child, _port in children.values():
                child.stop()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per batch")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--http", action="store_true", help="through uvicorn and wrk")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per HTTP point")
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    if args.http:
        rates = run_http(args.duration, min(args.repeats, 3), args.connections)
        med = {k: statistics.median(v) for k, v in rates.items()}
        ratio = med["b"] / med["a"]
        print(f"FastAPI GET /rows via uvicorn (core 0) and wrk -c{args.connections} (core 1)")
        print(f"(a) no middleware                    {med['a']:>10,.0f} req/s")
        print(f"(b) middleware, same token (cache)   {med['b']:>10,.0f} req/s   b/a {ratio:.2f}")
        print(f"target b/a >= 0.90: {'PASS' if ratio >= 0.9 else 'MISS'}")
        return
    rates = asyncio.run(run(args.requests, args.repeats))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"FastAPI GET /rows in-process, median of {args.repeats} interleaved batches")
    ratio_b, ratio_c = med["b"] / med["a"], med["c"] / med["a"]
    print(f"(a) no middleware                    {med['a']:>10,.0f} req/s")
    print(f"(b) middleware, same token (cache)   {med['b']:>10,.0f} req/s   b/a {ratio_b:.2f}")
    print(f"(c) middleware, fresh token (ES256)  {med['c']:>10,.0f} req/s   c/a {ratio_c:.2f}")
    verdict = "PASS" if ratio_b >= 0.9 else "MISS"
    print(f"target b/a >= 0.90: {verdict}")


if __name__ == "__main__":
    main()
