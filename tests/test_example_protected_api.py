"""The README's example service, run for real against a real `tessera serve` process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
TESSERA = Path(sys.executable).parent / "tessera"
API = "https://api.example.test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url}: process exited early")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not come up")


@pytest.fixture
def stack(tmp_path):
    env = {**os.environ, "TESSERA_HOME": str(tmp_path / "home")}
    for key in list(env):
        if key.startswith("TESSERA_") and key != "TESSERA_HOME":
            del env[key]
    auth_port, api_port = _free_port(), _free_port()
    issuer = f"http://127.0.0.1:{auth_port}/t/default"
    procs = [
        subprocess.Popen(
            [str(TESSERA), "serve", "--port", str(auth_port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        _wait(f"http://127.0.0.1:{auth_port}/healthz", procs[0])
        added = subprocess.run(
            [
                str(TESSERA),
                "clients",
                "add",
                "reports",
                "--scope",
                "data:read",
                "--audience",
                API,
                "--json",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        secret = json.loads(added.stdout)["client_secret"]
        api_env = {**env, "TESSERA_ISSUER": issuer, "TESSERA_AUDIENCE": API}
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "examples.protected_api.app:create_app",
                    "--factory",
                    "--port",
                    str(api_port),
                    "--log-level",
                    "warning",
                ],
                env=api_env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        _wait(f"http://127.0.0.1:{api_port}/healthz", procs[1])
        yield issuer, f"http://127.0.0.1:{api_port}", secret
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


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
