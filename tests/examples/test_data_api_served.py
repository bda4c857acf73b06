"""The README path, for real: `tessera serve` issues a client-credentials token, the data API
(`python -m examples.data_api serve`, a subprocess) accepts it, and refuses it once revoked.

Both on PostgreSQL and SQLite. The server publishes revocations to the real Redis
(TESSERA_REDIS_URL); the API follows the feed (`--redis-url`). Redis or PostgreSQL missing:
skipped locally, a failure under CI.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
from data_api_harness import backend, run_cli, served_api

from required import REDIS_URL, require_redis
from served import tessera_serve

API = "https://api.example.test"


@pytest.fixture(params=["postgres", "sqlite"])
def stack(request, tmp_path, secret_registry):
    require_redis()
    with (
        backend(request.param, tmp_path) as target,
        tessera_serve(tmp_path / "home", redis_url=REDIS_URL, heartbeat_interval="0.5") as srv,
    ):
        secret = secret_registry(
            srv.add_client("reports", "--scope", "data:read data:export", "--audience", API)
        )
        generated = run_cli(
            "generate", "--rows", "20000", "--member", "default:client:reports:analyst",
            env={"DATA_API_DATABASE_URL": target.admin.sqlalchemy_url},
        )  # fmt: skip
        assert generated.returncode == 0, generated.stderr
        assert "20,000 events" in generated.stdout
        args = ["--issuer", srv.issuer, "--audience", API, "--redis-url", REDIS_URL]
        env = {"DATA_API_DATABASE_URL": target.api.sqlalchemy_url}
        with served_api(args, tmp_path / "api.log", env=env) as (base, _process):
            yield srv.issuer, base, secret
        log = (tmp_path / "api.log").read_text(errors="replace")
        assert secret not in log
        assert "eyJ" not in log  # no token, whole or in part


def test_readme_path_with_a_server_token_then_revocation(stack, secret_registry):
    issuer, base, secret = stack
    issued = httpx.post(
        f"{issuer}/token",
        data={"grant_type": "client_credentials", "scope": "data:read data:export"},
        auth=("reports", secret),
    )
    assert issued.status_code == 200, issued.text
    token = secret_registry(issued.json()["access_token"])
    bearer = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=bearer, timeout=30) as api:
        listed = api.get("/events", params={"limit": 5})
        assert listed.status_code == 200, listed.text
        assert {e["tenant_id"] for e in listed.json()["items"]} == {"default"}
        groups = api.get("/events/aggregate", params={"group_by": "country"}).json()["groups"]
        assert sum(g["count"] for g in groups) > 0
        week = {"since": "2025-03-01", "until": "2025-03-08"}
        exported = api.get("/events/export", params={"format": "ndjson", **week})
        assert exported.status_code == 200
        rows = [json.loads(line) for line in exported.text.splitlines()]
        assert rows
        assert all("2025-03-01" <= r["occurred_at"] < "2025-03-08" for r in rows)
        # An analyst's export must be bounded (the policy's ABAC rule).
        unbounded = api.get("/events/export")
        assert unbounded.status_code == 403
        assert unbounded.json()["reason"] == "policy_denied"
        revoked = httpx.post(f"{issuer}/revoke", data={"token": token}, auth=("reports", secret))
        assert revoked.status_code == 200
        started = time.monotonic()
        while (response := api.get("/events", params={"limit": 1})).status_code == 200:
            assert time.monotonic() - started < 1.0, "a revoked token still works after 1 s"
            time.sleep(0.01)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"
        assert "revoked" in response.json()["error_description"]
        print(f"revocation refused after {(time.monotonic() - started) * 1000:.0f} ms")
