"""Load generation for the server bench: wrk with a Lua script, or a small asyncio fallback.

A :class:`Load` is requests (POST form bodies by default) to one loopback URL with fixed
headers. One body → wrk's static request (its fastest path); several → the Lua script
pre-formats one request per body at thread start and cycles through them.

A :class:`Chain` load follows refresh-token rotation: each body is ``prefix + token`` and the
next token is read from the JSON of the response, so no token is sent twice. wrk's
``request()``/``response()`` callbacks do not say which connection they serve, so the script
keeps the tokens in a FIFO: a response queues its successor, the next request on any
connection takes the oldest one. Each chain is thus strictly sequential (a token exists only
once its predecessor's answer arrived) and ``connections`` chains are in flight, one per
connection, as if each connection carried its own chain.

wrk runs with one thread and ``--latency``; its latency distribution gives p50/p99. The
fallback (``python -m bench._fallback SPEC.json``, :mod:`bench._fallback`) is Python and
saturates well below wrk, so its figures are a floor, not a peer of wrk's.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Chain", "Load", "LoadResult", "have_wrk", "run_load", "wrk_version"]


@dataclass(frozen=True)
class Chain:
    """Rotating tokens: request body ``prefix + token``; the next token is the response's
    JSON string ``field``. ``tokens`` start the chains, one per connection."""

    prefix: str
    field: str
    tokens: list[str]


@dataclass(frozen=True)
class Load:
    url: str
    headers: dict[str, str]
    bodies: list[str]
    connections: int
    duration: float
    method: str = "POST"
    chain: Chain | None = None  # when set, ``bodies`` is ignored

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Load:
        """The inverse of ``dataclasses.asdict`` (how the fallback reads its spec)."""
        chain = data.get("chain")
        return cls(**{**data, "chain": Chain(**chain) if chain else None})


@dataclass
class LoadResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx responses, socket errors, broken or starved chains
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


# Globals (not locals) where done() must read them through thread:get(). wrk calls request()
# once before the run to count pipelined requests (script_verify_request) and never sends
# that one: it gets a dummy, or it would spend a chain's first token.
_CHAIN_LUA = """\
local prefix, queue, head, tail, probed = %(prefix)s, {}, 1, 0, false
broken, starved = 0, 0
local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end
function init(args)
  for line in io.lines(%(file)s) do
    tail = tail + 1
    queue[tail] = line
  end
end
function request()
  if not probed then
    probed = true
    return wrk.format(nil, nil, nil, prefix .. "probe")
  end
  local token = "spent"
  if head <= tail then
    token = queue[head]
    queue[head] = nil
    head = head + 1
  else
    starved = starved + 1
  end
  return wrk.format(nil, nil, nil, prefix .. token)
end
function response(status, headers, body)
  local token = status == 200 and body:match(%(pattern)s)
  if token then
    tail = tail + 1
    queue[tail] = token
  else
    broken = broken + 1
  end
end
function done(summary, latency, requests)
  local b, s = 0, 0
  for _, t in ipairs(threads) do
    b = b + t:get("broken")
    s = s + t:get("starved")
  end
  io.write(string.format("chain: broken %%d starved %%d\\n", b, s))
end
"""


def _lua_script(load: Load, bodies_file: Path) -> str:
    headers = "\n".join(
        f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in load.headers.items()
    )
    head = f"wrk.method = {_lua_string(load.method)}\n{headers}\n"
    if load.chain is not None:
        pattern = f'"{re.escape(load.chain.field)}"%s*:%s*"([^"]+)"'
        return head + _CHAIN_LUA % {
            "prefix": _lua_string(load.chain.prefix),
            "file": _lua_string(str(bodies_file)),
            "pattern": _lua_string(pattern),
        }
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
    chain = re.search(r"^chain: broken (\d+) starved (\d+)$", text, re.MULTILINE)
    detail = {"non_2xx": int(non2xx.group(1)) if non2xx else 0}
    if sock:
        for name, value in zip(("connect", "read", "write", "timeout"), sock.groups(), strict=True):
            detail[name] = int(value)
    if chain:
        # A broken chain's answer was also a non-2xx (counted above) unless it was a 200
        # without a token; a starved request carried no live token at all.
        detail["chain_broken"] = max(0, int(chain.group(1)) - detail["non_2xx"])
        detail["chain_starved"] = int(chain.group(2))
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
    if load.chain is not None and len(load.chain.tokens) != load.connections:
        msg = f"a chain load needs one token per connection, got {len(load.chain.tokens)}"
        raise ValueError(msg)
    lines = load.chain.tokens if load.chain is not None else load.bodies
    bodies_file = workdir / "bodies.txt"
    bodies_file.write_text("\n".join(lines) + "\n")
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
    argv = [*_taskset(cores), sys.executable, "-m", "bench._fallback", str(spec)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=deadline, check=True)
    return LoadResult(**json.loads(out.stdout))
