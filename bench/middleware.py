"""``python -m bench.middleware``: what Tessera's bearer middleware costs a FastAPI endpoint.

One small JSON endpoint, called in-process through its ASGI interface (no sockets, so the
server's own cost does not dilute the ratio), three ways in one run, interleaved:

- (a) without the middleware (no authentication at all: the ceiling);
- (b) with ``BearerAuthMiddleware`` and the same token on every request (cache hits);
- (c) with the middleware and a fresh token per request (a full ES256 verify each time).

Prints requests/s and the ratios b/a (issue 4's target: ≥ 0.9) and c/a.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from typing import Any

from fastapi import FastAPI

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
    """Drives an ASGI app with a minimal HTTP scope; counts successful responses."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.ok = 0

    async def __call__(self, token: str | None) -> None:
        headers = [(b"host", b"api.test")]
        if token is not None:
            headers.append((b"authorization", b"Bearer " + token.encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/rows",
            "raw_path": b"/rows",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 80),
        }
        status = 0

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await self.app(scope, receive, send)
        if status == 200:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per batch")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
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
