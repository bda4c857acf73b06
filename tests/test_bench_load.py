"""The bench's chain load (refresh-token rotation): against a stub server that rotates tokens
and refuses any reuse, neither wrk's Lua script nor the asyncio fallback may send a token twice
or lose a chain."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from bench._fallback import run_fallback
from bench._load import Chain, Load, _lua_script, have_wrk, parse_wrk, run_load

from shared_data import IN_CI

PREFIX = "grant_type=refresh_token&refresh_token="


class _Rotating:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.live: set[str] = set()
        self.reused = 0
        self.rotations = 0

    def seed(self, n: int) -> list[str]:
        tokens = [secrets.token_urlsafe(16) for _ in range(n)]
        with self.lock:
            self.live.update(tokens)
        return tokens

    def rotate(self, token: str) -> str | None:
        with self.lock:
            if token not in self.live:
                self.reused += 1
                return None
            self.live.remove(token)
            successor = secrets.token_urlsafe(16)
            self.live.add(successor)
            self.rotations += 1
            return successor


@pytest.fixture
def rotating() -> Iterator[tuple[str, _Rotating]]:
    state = _Rotating()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            token = parse_qs(body).get("refresh_token", [""])[0]
            successor = state.rotate(token)
            status = 200 if successor else 400
            payload = {"refresh_token": successor} if successor else {"error": "invalid_grant"}
            data = json.dumps({"access_token": "x", **payload}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _load(url: str, state: _Rotating, connections: int) -> Load:
    chain = Chain(PREFIX, "refresh_token", state.seed(connections))
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return Load(url, headers, [], connections, 1.0, chain=chain)


def test_fallback_chain_never_reuses_a_token(rotating: tuple[str, _Rotating]) -> None:
    url, state = rotating
    result = asyncio.run(run_fallback(_load(url, state, 4)))
    assert result.requests > 10
    assert result.errors == 0
    assert state.reused == 0
    assert state.rotations == result.requests


def test_wrk_chain_never_reuses_a_token(rotating: tuple[str, _Rotating], tmp_path: Path) -> None:
    if not have_wrk():
        message = "wrk is not installed (scripts/system-deps.sh installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    url, state = rotating
    result = run_load(_load(url, state, 8), cores=None, workdir=tmp_path)
    assert result.requests > 10
    assert result.errors == 0, result.detail
    assert state.reused == 0
    assert result.detail["chain_starved"] == 0


def test_chain_script_spends_no_token_on_wrks_probe(tmp_path: Path) -> None:
    load = Load("http://127.0.0.1:1/token", {}, [], 2, 1.0, chain=Chain(PREFIX, "rt", ["a", "b"]))
    script = _lua_script(load, tmp_path / "tokens.txt")
    probe = script.index('prefix .. "probe"')
    assert probe < script.index("queue[head] = nil")
    assert '\\"rt\\"%s*:%s*\\"([^\\"]+)\\"' in script


def test_parse_wrk_counts_broken_and_starved_chains() -> None:
    out = """Running 1s test @ http://127.0.0.1:1/token
  Latency Distribution
     50%    1.00ms
     75%    2.00ms
     90%    3.00ms
     99%    4.00ms
  100 requests in 1.00s, 10.00KB read
  Non-2xx or 3xx responses: 3
Requests/sec:    100.00
chain: broken 5 starved 2
"""
    result = parse_wrk(out)
    assert result.detail == {"non_2xx": 3, "chain_broken": 2, "chain_starved": 2}
    assert result.errors == 7
