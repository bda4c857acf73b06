"""Load generation for the server bench: wrk with a Lua script, or a small asyncio fallback.

A :class:`Load` is requests (POST form bodies by default) to one loopback URL with fixed
headers. One
body → wrk's static request (its fastest path); several → the Lua script pre-formats one
request per body at thread start and cycles through them.

wrk runs with one thread and ``--latency``; its latency distribution gives p50/p99. The
fallback (``python -m bench._load SPEC.json``) is HTTP/1.1 keep-alive over raw asyncio
streams, one coroutine per connection, bounded by time and by a request count; being Python,
it saturates well below wrk, so its figures are a floor, not a peer of wrk's.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["Load", "LoadResult", "have_wrk", "run_load", "wrk_version"]

_MAX_FALLBACK_REQUESTS = 2_000_000


@dataclass(frozen=True)
class Load:
    url: str
    headers: dict[str, str]
    bodies: list[str]
    connections: int
    duration: float
    method: str = "POST"


@dataclass
class LoadResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx responses plus socket errors
    tool: str
    detail: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def wrk_version() -> str | None:
    if not have_wrk():
        return None
    out = subprocess.run(
        ["wrk", "--version"],  # noqa: S607 - wrk from PATH, as the user installed it
        capture_output=True,
        text=True,
        check=False,
    )
    first = (out.stdout or out.stderr).splitlines()
    return first[0].split(" Copyright")[0].strip() if first else None


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal here


def _lua_script(load: Load, bodies_file: Path) -> str:
    headers = "\n".join(
        f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in load.headers.items()
    )
    head = f"wrk.method = {_lua_string(load.method)}\n{headers}\n"
    if not load.bodies:
        return head
    if len(load.bodies) == 1:
        return head + f"wrk.body = {_lua_string(load.bodies[0])}\n"
    return head + (
        "local bodies = {}\n"
        f"for line in io.lines({_lua_string(str(bodies_file))}) do\n"
        "  bodies[#bodies + 1] = line\n"
        "end\n"
        "local reqs, n, i = {}, 0, 0\n"
        "function init(args)\n"
        "  for k, b in ipairs(bodies) do reqs[k] = wrk.format(nil, nil, nil, b) end\n"
        "  n = #reqs\n"
        "end\n"
        "function request()\n"
        "  i = i % n + 1\n"
        "  return reqs[i]\n"
        "end\n"
    )


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", value)
    if match is None:
        msg = f"cannot read wrk time {value!r}"
        raise ValueError(msg)
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(text: str) -> LoadResult:
    """Requests/s, total, p50/p99 and error counts from ``wrk --latency`` output."""
    pct = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", text, re.MULTILINE))
    total = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)", text, re.MULTILINE)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.MULTILINE)
    if not pct or total is None or rps is None:
        msg = f"unexpected wrk output:\n{text}"
        raise ValueError(msg)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    detail = {"non_2xx": int(non2xx.group(1)) if non2xx else 0}
    if sock:
        for name, value in zip(("connect", "read", "write", "timeout"), sock.groups(), strict=True):
            detail[name] = int(value)
    return LoadResult(
        requests=int(total.group(1)),
        seconds=_ms(total.group(2) + total.group(3)) / 1e3,
        rps=float(rps.group(1)),
        p50_ms=_ms(pct["50"]),
        p99_ms=_ms(pct["99"]),
        errors=sum(detail.values()),
        tool="wrk",
        detail=detail,
    )


def _taskset(cores: str | None) -> list[str]:
    return ["taskset", "-c", cores] if cores and shutil.which("taskset") else []


def run_load(load: Load, *, cores: str | None, workdir: Path) -> LoadResult:
    """Run ``load`` once (wrk if installed, else the fallback), pinned to ``cores``."""
    bodies_file = workdir / "bodies.txt"
    bodies_file.write_text("\n".join(load.bodies) + "\n")
    deadline = load.duration + 60
    if have_wrk():
        script = workdir / "load.lua"
        script.write_text(_lua_script(load, bodies_file))
        argv = [
            *_taskset(cores),
            "wrk",
            "-t1",
            f"-c{load.connections}",
            f"-d{max(1, round(load.duration))}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(script),
            load.url,
        ]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=deadline, check=True)
        return parse_wrk(out.stdout)
    spec = workdir / "load.json"
    spec.write_text(json.dumps(asdict(load)))
    argv = [*_taskset(cores), sys.executable, "-m", "bench._load", str(spec)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=deadline, check=True)
    return LoadResult(**json.loads(out.stdout))


# ------------------------------------------------------------------------------ fallback


async def _connection(
    host: str, port: int, requests: list[bytes], start: int, stop_at: float, out: _Tally
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        i = start
        while time.perf_counter() < stop_at and out.count < _MAX_FALLBACK_REQUESTS:
            t0 = time.perf_counter()
            writer.write(requests[i % len(requests)])
            head = await reader.readuntil(b"\r\n\r\n")
            match = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.IGNORECASE)
            if match is None:
                msg = "fallback load generator needs Content-Length responses"
                raise RuntimeError(msg)
            await reader.readexactly(int(match.group(1)))
            out.latencies.append(time.perf_counter() - t0)
            out.count += 1
            if not head.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2")):
                out.errors += 1
            i += 1
    finally:
        writer.close()


@dataclass
class _Tally:
    count: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)


async def _fallback(load: Load) -> LoadResult:
    parts = urlsplit(load.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = "".join(f"{k}: {v}\r\n" for k, v in load.headers.items())
    requests = [
        (
            f"{load.method} {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{head}"
            f"Content-Length: {len(body.encode())}\r\n\r\n{body}"
        ).encode()
        for body in load.bodies or [""]
    ]
    tally = _Tally()
    began = time.perf_counter()
    stop_at = began + load.duration
    await asyncio.gather(
        *(
            _connection(host, port, requests, n * 7919, stop_at, tally)
            for n in range(load.connections)
        )
    )
    seconds = time.perf_counter() - began
    lat = sorted(tally.latencies) or [0.0]
    return LoadResult(
        requests=tally.count,
        seconds=seconds,
        rps=tally.count / seconds,
        p50_ms=lat[len(lat) // 2] * 1e3,
        p99_ms=lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3,
        errors=tally.errors,
        tool="asyncio-fallback",
        detail={"non_2xx": tally.errors},
    )


def main() -> None:
    load = Load(**json.loads(Path(sys.argv[1]).read_text()))
    print(json.dumps(asyncio.run(_fallback(load)).as_dict()))


if __name__ == "__main__":
    main()
