"""The README's example service, run for real against a real `tessera serve` process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from served import free_port, stop, tessera_serve, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
API = "https://api.example.test"


@pytest.fixture
def stack(tmp_path):
    with tessera_serve(tmp_path / "home") as served:
        secret = served.add_client("reports", "--scope", "data:read", "--audience", API)
        port = free_port()
        env = {**served.env, "TESSERA_ISSUER": served.issuer, "TESSERA_AUDIENCE": API}
        argv = [sys.executable, "-m", "uvicorn", "examples.protected_api.app:create_app"]
        argv += ["--factory", "--port", str(port), "--log-level", "warning"]
        api = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_healthy(f"http://127.0.0.1:{port}/healthz", api)
            yield served.issuer, f"http://127.0.0.1:{port}", secret
        finally:
            stop(api)


def test_example_service_accepts_server_tokens_and_refuses_the_rest(stack):
    issuer, api, secret = stack
    token = httpx.post(
        f"{issuer}/token",
        data={"grant_type": "client_credentials", "scope": "data:read"},
        auth=("reports", secret),
    ).json()["access_token"]
    ok = httpx.get(f"{api}/reports", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    assert ok.json()["tenant"] == "default"
    assert httpx.get(f"{api}/reports").status_code == 401
    in_query = httpx.get(f"{api}/reports", params={"access_token": token})
    assert in_query.status_code == 400
    httpx.post(f"{issuer}/revoke", data={"token": token}, auth=("reports", secret))
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert (
        httpx.get(f"{api}/me", headers={"Authorization": f"Bearer {tampered}"}).status_code == 401
    )
