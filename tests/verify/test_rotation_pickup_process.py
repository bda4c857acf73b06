"""A key rotation at a real `tessera serve` is picked up without a single failed request.

Short but valid timings: JWKS max-age 1 s, skew 0, key refresh 1 s, publish lead 3 s. A
verifier built with Verifier.from_issuer (honouring Cache-Control) verifies a fresh token
every 50 ms while `tessera keys rotate` publishes the next key, which signs 3 s later.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from served import TESSERA, tessera_serve
from tessera.errors import TesseraError
from tessera.jose import peek_unverified_header
from tessera.verify import JwksCachePolicy, Verifier

API = "https://api.example.test"


@pytest.fixture
def served(tmp_path):
    timings = {
        "jwks_max_age": "1",
        "clock_skew": "0",
        "key_refresh_interval": "1",
        "key_publish_lead": "3",
    }
    with tessera_serve(tmp_path / "home", **timings) as srv:
        yield srv.issuer, srv.add_client("svc", "--audience", API), srv.env


async def test_rotation_is_picked_up_without_a_failed_request(served):
    issuer, secret, env = served
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
