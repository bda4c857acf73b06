"""The asyncio load generator used when wrk is not installed: ``python -m bench._fallback SPEC``.

HTTP/1.1 keep-alive over raw asyncio streams, one coroutine per connection, bounded by time
and by a request count. A chain load (:class:`bench._load.Chain`) gives each connection its own
chain: it reads the next token from each answer's JSON. Being Python, it saturates well below
wrk, so its figures are a floor, not a peer of wrk's.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench._load import Load, LoadResult

__all__ = ["run_fallback"]

_MAX_REQUESTS = 2_000_000


@dataclass
class _Tally:
    count: int = 0
    errors: int = 0
    broken: int = 0
    latencies: list[float] = field(default_factory=list)


class _Requests:
    """The bytes of each request of one connection: a fixed cycle, or a refresh chain."""

    def __init__(self, load: Load, start: int) -> None:
        parts = urlsplit(load.url)
        head = "".join(f"{k}: {v}\r\n" for k, v in load.headers.items())
        self._head = f"{load.method} {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{head}"
        self._chain = load.chain
        self._token = load.chain.tokens[start] if load.chain is not None else ""
        self._fixed = [self._format(body) for body in load.bodies or [""]]
        self._i = start * 7919

    def _format(self, body: str) -> bytes:
        data = body.encode()
        return f"{self._head}Content-Length: {len(data)}\r\n\r\n".encode() + data

    def next(self) -> bytes:
        if self._chain is not None:
            return self._format(self._chain.prefix + self._token)
        self._i += 1
        return self._fixed[self._i % len(self._fixed)]

    def answered(self, ok: bool, body: bytes) -> bool:
        """Take the next token from ``body``; False when a chain could not go on."""
        if self._chain is None:
            return True
        try:
            token = json.loads(body)[self._chain.field] if ok else None
        except (ValueError, KeyError, TypeError):
            token = None
        if not isinstance(token, str):
            return False
        self._token = token
        return True


async def _connection(
    host: str, port: int, requests: _Requests, stop_at: float, out: _Tally
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop_at and out.count < _MAX_REQUESTS:
            t0 = time.perf_counter()
            writer.write(requests.next())
            head = await reader.readuntil(b"\r\n\r\n")
            match = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.IGNORECASE)
            if match is None:
                msg = "fallback load generator needs Content-Length responses"
                raise RuntimeError(msg)
            body = await reader.readexactly(int(match.group(1)))
            out.latencies.append(time.perf_counter() - t0)
            out.count += 1
            ok = head.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2"))
            if not ok:
                out.errors += 1
            if not requests.answered(ok, body):
                out.broken += 1
                return  # this chain is over; the others go on
    finally:
        writer.close()


async def run_fallback(load: Load) -> LoadResult:
    parts = urlsplit(load.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    tally = _Tally()
    began = time.perf_counter()
    stop_at = began + load.duration
    await asyncio.gather(
        *(
            _connection(host, port, _Requests(load, n), stop_at, tally)
            for n in range(load.connections)
        )
    )
    seconds = time.perf_counter() - began
    lat = sorted(tally.latencies) or [0.0]
    detail = {"non_2xx": tally.errors}
    if load.chain is not None:
        detail["chain_broken"] = max(0, tally.broken - tally.errors)
    return LoadResult(
        requests=tally.count,
        seconds=seconds,
        rps=tally.count / seconds,
        p50_ms=lat[len(lat) // 2] * 1e3,
        p99_ms=lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3,
        errors=sum(detail.values()),
        tool="asyncio-fallback",
        detail=detail,
    )


def main() -> None:
    load = Load.from_dict(json.loads(Path(sys.argv[1]).read_text()))
    print(json.dumps(asyncio.run(run_fallback(load)).as_dict()))


if __name__ == "__main__":
    main()
