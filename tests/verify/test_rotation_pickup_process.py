"""A key rotation at a real `tessera serve` is picked up without a single failed request.

Short but valid timings: JWKS max-age 1 s, skew 0, key refresh 1 s, publish lead 3 s. A
verifier built with Verifier.from_issuer (honouring Cache-Control) verifies a fresh token
every 50 ms while `tessera keys rotate` publishes the next key, which signs 3 s later.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tessera.errors import TesseraError
from tessera.jose import peek_unverified_header
from tessera.verify import JwksCachePolicy, Verifier

TESSERA = Path(sys.executable).parent / "tessera"
API = "https://api.example.test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env |= {
        "TESSERA_HOME": str(tmp_path / "home"),
        "TESSERA_JWKS_MAX_AGE": "1",
        "TESSERA_CLOCK_SKEW": "0",
        "TESSERA_KEY_REFRESH_INTERVAL": "1",
        "TESSERA_KEY_PUBLISH_LEAD": "3",
    }
    port = _free_port()
    process = subprocess.Popen(
        [str(TESSERA), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("tessera serve did not start")
            time.sleep(0.2)
        added = subprocess.run(
            [str(TESSERA), "clients", "add", "svc", "--audience", API, "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        yield f"{base}/t/default", added.stdout, env
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


async def test_rotation_is_picked_up_without_a_failed_request(served):
    issuer, added, env = served
    secret = json.loads(added)["client_secret"]
    policy = JwksCachePolicy(min_ttl=0.5, default_ttl=1.0, cooldown=0.5)
    verifier = await Verifier.from_issuer(
        issuer, audience=API, algorithms=["ES256"], jwks_policy=policy
    )
    failures: list[str] = []
    kids: list[str] = []
    rotate = await asyncio.create_subprocess_exec(
        str(TESSERA),
        "keys",
        "rotate",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert await rotate.wait() == 0
    async with httpx.AsyncClient() as http:
        end = time.monotonic() + 6.0
        while time.monotonic() < end:
            response = await http.post(
                f"{issuer}/token",
                data={"grant_type": "client_credentials"},
                auth=("svc", secret),
            )
            token = response.json()["access_token"]
            kids.append(peek_unverified_header(token)["kid"])
            try:
                await verifier.verify_async(token)
            except TesseraError as exc:
                failures.append(exc.code)
            await asyncio.sleep(0.05)
    assert len(set(kids)) == 2, "the next key never started signing"
    assert failures == []
