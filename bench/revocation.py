"""``python -m bench.revocation``: how fast a revocation reaches a verifier in another process.

A real ``tessera serve`` publishing to Redis (``--redis``, default the local 127.0.0.1:6379),
and a verifier process following the feed with ``RedisRevocationSubscriber``; it prints the
wall-clock time at which each ``jti`` was applied. This process issues tokens, revokes them
one by one over HTTP, and reports the delay from each ``/revoke`` response to its
application at the verifier: p50/p99/max over ``--count`` revocations (default 1000;
issue 4's target: p99 < 50 ms on loopback). Everything on 127.0.0.1, bounded, stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

TESSERA = Path(sys.executable).parent / "tessera"
API = "https://api.example.test"


async def _verifier_role(redis_url: str) -> None:
    from tessera.verify import RedisRevocationSubscriber, RevocationFeed  # noqa: PLC0415

    feed = RevocationFeed()
    feed.on_revoked(lambda event: print(f"{event.value} {time.time():.6f}", flush=True))
    subscriber = RedisRevocationSubscriber(redis_url, feed, last_id=None)  # live events only
    subscriber.start()
    while not subscriber.connected:
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    await asyncio.sleep(3600)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(redis_url: str, count: int) -> dict[str, float]:
    home = tempfile.mkdtemp(prefix="tessera-bench-rev-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env |= {"TESSERA_HOME": home, "TESSERA_REDIS_URL": redis_url}
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}/t/default"
    procs: list[subprocess.Popen[str]] = []
    applied: dict[str, float] = {}
    try:
        procs.append(
            subprocess.Popen(
                [str(TESSERA), "serve", "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                text=True,
                start_new_session=True,
            )
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("tessera serve did not start")
            time.sleep(0.2)
        added = subprocess.run(
            [str(TESSERA), "clients", "add", "svc", "--audience", API, "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        secret = json.loads(added.stdout)["client_secret"]
        verifier = subprocess.Popen(
            [sys.executable, "-m", "bench.revocation", "--role", "verifier", "--redis", redis_url],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        procs.append(verifier)
        assert verifier.stdout is not None
        if verifier.stdout.readline().strip() != "ready":
            raise SystemExit("verifier did not start")

        def reader() -> None:
            assert verifier.stdout is not None
            for line in verifier.stdout:
                jti, _, ts = line.strip().partition(" ")
                applied[jti] = float(ts)

        threading.Thread(target=reader, daemon=True).start()
        delays: list[float] = []
        from_request: list[float] = []
        with httpx.Client(auth=("svc", secret), timeout=10) as http:
            tokens = [
                http.post(f"{issuer}/token", data={"grant_type": "client_credentials"}).json()[
                    "access_token"
                ]
                for _ in range(count)
            ]
            from tessera.jose import peek_unverified_claims  # noqa: PLC0415

            for token in tokens:
                jti = peek_unverified_claims(token)["jti"]
                sent = time.time()
                http.post(f"{issuer}/revoke", data={"token": token})
                answered = time.time()
                wait_until = time.monotonic() + 2
                while jti not in applied and time.monotonic() < wait_until:
                    time.sleep(0.0002)
                if jti in applied:
                    # Usually applied before the answer arrives: the server publishes first.
                    delays.append(max(0.0, applied[jti] - answered) * 1000)
                    from_request.append((applied[jti] - sent) * 1000)
        lost = count - len(delays)
        return {
            "count": count,
            "lost": lost,
            "p50_ms": statistics.median(delays),
            "p99_ms": _percentile(delays, 0.99),
            "max_ms": max(delays),
            "before_answer": sum(1 for d in delays if d == 0.0) / len(delays),
            "from_request_p50_ms": statistics.median(from_request),
            "from_request_p99_ms": _percentile(from_request, 0.99),
        }
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--role", choices=["bench", "verifier"], default="bench")
    args = parser.parse_args()
    if args.role == "verifier":
        asyncio.run(_verifier_role(args.redis))
        return
    result = run(args.redis, args.count)
    print(f"revocation -> rejection at a verifier in another process, {result['count']} times")
    print(
        f"p50 {result['p50_ms']:.2f} ms   p99 {result['p99_ms']:.2f} ms   "
        f"max {result['max_ms']:.2f} ms   lost {result['lost']}"
    )
    print(
        f"applied before the /revoke answer arrived: {result['before_answer']:.0%}; "
        f"from the /revoke request: p50 {result['from_request_p50_ms']:.2f} ms, "
        f"p99 {result['from_request_p99_ms']:.2f} ms"
    )
    print(f"target p99 < 50 ms: {'PASS' if result['p99_ms'] < 50 else 'MISS'}")


if __name__ == "__main__":
    main()
