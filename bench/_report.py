"""The table, the targets and the notes that ``python -m bench.server`` prints.

Targets (marked for information; the bench exits 0 whatever they say):

- issuance (pinned): CPU per token ≤ the peer's;
- issuance 2w: req/s ≥ the peer's and p99 ≤ the peer's;
- introspection: req/s ≥ 0.75 × the peer's and p99 ≤ the peer's;
- refresh: req/s ≥ 1.5 × the peer's (PASS/FAIL, also summed up on one line).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench._load import wrk_version
from bench._measure import LOAD_CORES, SERVER_CORES, Point, Run
from bench._refresh import REFRESH_SCOPE
from bench._scenarios import CONCURRENCY, INTROSPECT, ISSUE, ISSUE_2W, REFRESH

__all__ = ["REFRESH_TARGET", "notes", "refresh_summary", "render", "rows", "versions"]

REFRESH_TARGET = 1.5
_LABELS = {
    ISSUE: "issuance JWT",
    ISSUE_2W: "issuance JWT 2w*",
    INTROSPECT: "introspect opaque",
    REFRESH: "refresh rotate",
}


def versions(peer_version: str | None) -> dict[str, str | None]:
    def dist(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    node = shutil.which("node")
    node_version = (
        subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
        .stdout.strip()
        .lstrip("v")
        if node
        else None
    )
    cpu = ""
    with contextlib.suppress(OSError):
        found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = found.group(1) if found else ""
    return {
        "python": platform.python_version(),
        "node": node_version,
        "oidc-provider": peer_version,
        "tessera": dist("tessera"),
        "uvicorn": dist("uvicorn"),
        "granian": dist("granian"),
        "starlette": dist("starlette"),
        "cryptography": dist("cryptography"),
        "argon2-cffi": dist("argon2-cffi"),
        "uvloop": dist("uvloop"),
        "httptools": dist("httptools"),
        "wrk": wrk_version(),
        "kernel": platform.release(),
        "cpu": f"{cpu} x{os.cpu_count()}",
    }


def _target_verdict(scenario: str, t: Point, p: Point) -> tuple[str, str]:
    """(rule, PASS/MISS …) for one Tessera point against the peer's in the same row."""
    if t.result.errors or p.result.errors:
        return "no errors", "INVALID (errors)"
    if scenario == ISSUE:
        ok = t.cpu_ms_per_req <= p.cpu_ms_per_req
        return "CPU/token <= peer", "PASS" if ok else "MISS"
    if scenario == REFRESH:
        ok = t.result.rps >= REFRESH_TARGET * p.result.rps
        return f"req/s >= {REFRESH_TARGET:g} peer", "PASS" if ok else "FAIL"
    if scenario == ISSUE_2W:
        rule, floor = "req/s >= peer, p99 <= peer", 1.0
    else:
        rule, floor = "req/s >= 0.75 peer, p99 <= peer", 0.75
    misses = []
    if t.result.rps < floor * p.result.rps:
        misses.append("req/s")
    if t.result.p99_ms > p.result.p99_ms:
        misses.append("p99")
    return rule, "PASS" if not misses else "MISS " + "+".join(misses)


def rows(run: Run, servers: list[str]) -> list[dict[str, Any]]:
    table = []
    keys = dict.fromkeys((pt.scenario, pt.concurrency) for pt in run.points)
    for scenario, c in keys:
        cells = {
            pt.server: pt for pt in run.points if (pt.scenario, pt.concurrency) == (scenario, c)
        }
        peer = cells.get("peer")
        row: dict[str, Any] = {"scenario": scenario, "concurrency": c, "servers": {}}
        for name in servers:
            if name in cells:
                row["servers"][name] = cells[name].as_dict()
        if peer is not None:
            for name in servers[:-1]:
                t = cells.get(name)
                if t is None:
                    continue
                rule, verdict = _target_verdict(scenario, t, peer)
                row.setdefault("vs_peer", {})[name] = {
                    "rps_ratio": round(t.result.rps / peer.result.rps, 3),
                    "cpu_ratio": round(t.cpu_ms_per_req / peer.cpu_ms_per_req, 3),
                    "target": rule,
                    "verdict": verdict,
                }
        table.append(row)
    return table


def render(table: list[dict[str, Any]], servers: list[str]) -> str:
    tessera = servers[:-1]
    head1 = f"{'':<22}"
    head2 = f"{'scenario':<18}{'c':>4}"
    for name in servers:
        head1 += f" | {name:<31}"
        head2 += f" | {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU/req':>7}"
    for name in tessera:
        head1 += f" | {name + '/peer':<29}"
        head2 += f" | {'req/s':>5} {'CPU':>5} {'target':<17}"
    lines = [head1, head2, "-" * len(head2)]
    for row in table:
        line = f"{_LABELS[row['scenario']]:<18}{row['concurrency']:>4}"
        for name in servers:
            cell = row["servers"].get(name)
            if cell is None:
                line += f" | {'-':>31}"
                continue
            flag = "!" if cell["errors"] else " "
            line += (
                f" | {cell['rps']:>7.0f} {cell['p50_ms']:>7.2f} {cell['p99_ms']:>7.2f}"
                f" {cell['cpu_ms_per_req']:>6.3f}{flag}"
            )
        for name in tessera:
            vs = row.get("vs_peer", {}).get(name)
            if vs is None:
                line += f" | {'-':>29}"
                continue
            line += f" | {vs['rps_ratio']:>5.2f} {vs['cpu_ratio']:>5.2f} {vs['verdict']:<17}"
        lines.append(line)
    return "\n".join(lines)


def refresh_summary(table: list[dict[str, Any]], servers: list[str]) -> list[str]:
    """One line per Tessera server: the refresh req/s ratios and the verdict at every c."""
    out = []
    for name in servers[:-1]:
        cells = [
            (row["concurrency"], row["vs_peer"][name])
            for row in table
            if row["scenario"] == REFRESH and name in row.get("vs_peer", {})
        ]
        if not cells:
            continue
        ratios = " / ".join(f"{vs['rps_ratio']:.2f}" for _, vs in cells)
        at = "/".join(str(c) for c, _ in cells)
        ok = all(vs["verdict"] == "PASS" for _, vs in cells)
        out.append(
            f"refresh grant, {name}/peer req/s at c={at}: {ratios} "
            f"(target >= {REFRESH_TARGET:g}x at every c): {'PASS' if ok else 'FAIL'}"
        )
    return out


def _refresh_notes(info: dict[str, Any]) -> list[str]:
    checks = info.get("refresh_checks") or {}
    if not checks:
        return []
    id_algs = {name: c["id_token_alg"] for name, c in checks.items()}
    same = len(set(id_algs.values())) == 1
    id_note = (
        f"both issue an {next(iter(id_algs.values()))} ID token per refresh"
        if same and next(iter(id_algs.values()))
        else "ID tokens DIFFER (" + ", ".join(f"{k}: {v}" for k, v in id_algs.items()) + ")"
    )
    scopes = ", ".join(f"{k} {c['access_token_scope']!r}" for k, c in checks.items())
    return [
        (
            "refresh: POST grant_type=refresh_token&refresh_token=…, Basic auth (client "
            f"app-web-01); scope {REFRESH_SCOPE!r} (openid included on both: {id_note}); "
            "every use rotates (the old token is spent); ES256 RFC 9068 access token for "
            f"https://api.example.test (its scope claim: {scopes})."
        ),
        (
            "refresh load: wrk's Lua script keeps one chain per connection in flight (the "
            "next request sends the token the last answer gave); chains are seeded fresh "
            "before every run (peer: Grant + RefreshToken via its own models; Tessera: an "
            "authorization code redeemed into a family through the storage API). "
            "Peer storage is its in-memory adapter, Tessera's is SQLite."
        ),
    ]


def notes(run: Run, info: dict[str, Any]) -> list[str]:
    args = run.args
    tool = run.points[0].result.tool if run.points else "?"
    pinned = (
        f"servers pinned to core {SERVER_CORES}, load generator to core {LOAD_CORES}"
        if run.pinning
        else "NOT pinned (taskset missing or < 2 cores)"
    )
    scenarios = {pt.scenario for pt in run.points}
    out = [
        (
            f"load: {tool}, 1 thread, keep-alive, {args.duration:g} s per run after "
            f"{args.warmup:g} s warm-up, median of {args.repeat} run(s) by req/s; {pinned}; "
            f"c = {', '.join(map(str, CONCURRENCY))}."
        ),
        "CPU/req: server process-tree utime+stime over the point / requests completed (ms).",
    ]
    if scenarios & {ISSUE, ISSUE_2W}:
        out.append(
            "issuance: POST grant_type=client_credentials, scope, resource=https://api.example.test;"
            " Basic auth; ES256 RFC 9068 JWT from both."
        )
    if ISSUE_2W in scenarios:
        out.append(
            "* 2w row: Tessera `--workers 2`, peer 1 process, wrk: none pinned (all share "
            f"{os.cpu_count()} cores); target judged against the peer in this row."
        )
    if INTROSPECT in scenarios:
        out += [
            (
                f"introspection: each point mints a fresh pool of {args.pool} opaque tokens and "
                "wrk cycles through them (one per request, in order)."
            ),
            (
                "introspection caller differs: Tessera's is a resource-server client registered "
                "with --introspect-for https://opaque-api.example.test; the peer lets the "
                "token's own client (svc-billing-01) introspect."
            ),
        ]
    if REFRESH in scenarios:
        out += _refresh_notes(info)
    out += [
        f"Tessera log level {args.log_level} (audit line per token on stderr → file, as served).",
        "! = the point had non-2xx responses, socket errors or broken chains (see --json).",
    ]
    if run.points:
        other = [pt.other_cores_busy for pt in run.points]
        out.append(
            f"other host load during the points (busy CPU not from the server or wrk): "
            f"mean {sum(other) / len(other):.2f}, max {max(other):.2f} cores."
        )
    checks = info.get("checks", {})
    if checks:
        sizes = ", ".join(f"{k} {v['jwt_bytes']} B" for k, v in checks.items())
        out.append(f"JWT sizes: {sizes}.")
    return out
