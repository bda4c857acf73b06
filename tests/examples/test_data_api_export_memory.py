"""Streaming an export keeps the server's memory flat (issue 7 §4).

The API runs as its own process (`python -m examples.data_api serve`, uvicorn); its resident
memory (/proc/<pid>/status VmRSS, sampled every 5 ms, and the kernel's exact peak VmHWM) is
compared before and during the download of a whole tenant's export. PostgreSQL exports
1,000,000 rows; SQLite 100,000 (the suite's time budget). The client parses every row.
"""

from __future__ import annotations

import csv
import json
import time

import httpx
import pytest
from data_api_harness import (
    AUDIENCE,
    ISSUER,
    LocalIssuer,
    RssSampler,
    backend,
    generate,
    memory_kib,
    served_api,
)

# Peak growth of the server's resident memory during the export, in MiB: far below the
# export's size (≈ 190 MiB of NDJSON for 1M rows, ≈ 8 MiB of CSV for 100k) and below what
# even a tenth of the rows would take as Python objects.
MAX_GROWTH_MIB = 32
POOL_SIZE = 8  # the CLI's default (Settings.pool_size)


def _aborted_exports_release_their_connections(target, base: str, headers) -> None:
    """Clients that hang up mid-export (more of them than the pool has connections) leave
    no transaction open and no connection checked out: the API still answers at once."""
    for _ in range(POOL_SIZE + 2):
        with httpx.stream("GET", f"{base}/events/export", headers=headers) as response:
            next(response.iter_raw())
    time.sleep(0.3)
    started = time.perf_counter()
    listed = httpx.get(f"{base}/events", params={"limit": 1}, headers=headers, timeout=30)
    assert listed.status_code == 200
    assert time.perf_counter() - started < 2.0
    if target.name == "postgres":
        states = target.fetch(
            "SELECT state FROM pg_stat_activity WHERE usename = $1", target.api.username
        )
        assert "idle in transaction" not in {s for (s,) in states}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("database", "rows", "fmt"),
    [("postgres", 1_000_000, "ndjson"), ("sqlite", 100_000, "csv")],
)
def test_an_export_streams_in_flat_memory(tmp_path, secret_registry, database, rows, fmt):
    issuer = LocalIssuer(remember=secret_registry)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(issuer.jwks))
    with backend(database, tmp_path) as target:
        started = time.perf_counter()
        generate(target, rows, ["big:exporter:admin"], ["big"])
        generated_in = time.perf_counter() - started
        args = ["--issuer", ISSUER, "--audience", AUDIENCE, "--jwks", str(jwks)]
        env = {"DATA_API_DATABASE_URL": target.api.sqlalchemy_url}
        with served_api(args, tmp_path / "api.log", env=env) as (base, process):
            headers = issuer.bearer("exporter", "big")
            url = f"{base}/events/export"
            # Warm-up: a small export loads every code path before the baseline is taken.
            day = {"since": "2025-06-01", "until": "2025-06-02", "format": fmt}
            assert httpx.get(url, params=day, headers=headers).status_code == 200
            before = memory_kib(process.pid)
            sampler = RssSampler(process.pid)
            sampler.start()
            count, size = 0, 0
            started = time.perf_counter()
            try:
                with httpx.stream(
                    "GET", url, params={"format": fmt}, headers=headers, timeout=120
                ) as response:
                    assert response.status_code == 200
                    lines = response.iter_lines()
                    if fmt == "csv":
                        header = next(csv.reader([next(lines)]))
                        assert header[:3] == ["id", "tenant_id", "occurred_at"]
                        for row in csv.reader(lines):
                            assert len(row) == len(header)
                            count += 1
                    else:
                        for line in lines:
                            assert json.loads(line)["tenant_id"] == "big"
                            count += 1
                    size = response.num_bytes_downloaded
            finally:
                sampler.stop()
            exported_in = time.perf_counter() - started
            after = memory_kib(process.pid)
            _aborted_exports_release_their_connections(target, base, headers)
    growth_mib = (sampler.peak - before["VmRSS"]) / 1024
    hwm_growth_mib = (after["VmHWM"] - before["VmHWM"]) / 1024
    print(
        f"\n{database}: generated {rows:,} rows in {generated_in:.1f} s; exported "
        f"{count:,} rows ({size / 2**20:.0f} MiB {fmt}) in {exported_in:.1f} s "
        f"({count / exported_in:,.0f} rows/s); server RSS before {before['VmRSS'] / 1024:.1f} "
        f"MiB, sampled peak {sampler.peak / 1024:.1f} MiB ({sampler.samples} samples), "
        f"growth {growth_mib:.1f} MiB; VmHWM growth {hwm_growth_mib:.1f} MiB"
    )
    assert count == rows
    assert sampler.samples > 10
    assert size > 4 * MAX_GROWTH_MIB * 2**20 or database == "sqlite"
    assert growth_mib < MAX_GROWTH_MIB
    assert hwm_growth_mib < MAX_GROWTH_MIB
