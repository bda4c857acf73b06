"""Token endpoint and introspection under load: Tessera beside node-oidc-provider, one run.

Run ``python -m bench.server`` (``--quick`` for 3 s points, ``--json`` for machine output,
``--server both`` to add granian serving Tessera's ASGI app, ``--profile`` to sample
Tessera's token endpoint with py-spy instead). See bench/README.md for what each number means.

Points, each measured for Tessera and the peer back to back (so drift hits both alike):

- issuance of ES256 RFC 9068 JWTs (client_credentials, Basic auth) at 1, 8, 32 connections,
  every server pinned to core 0 and wrk to core 1;
- issuance at 32 connections with Tessera on 2 worker processes, nothing pinned (Tessera's
  workers, the peer's single process and wrk share both cores);
- introspection of opaque tokens at 1, 8, 32 connections, pinned as for issuance; wrk cycles
  through a pool of freshly minted tokens.

Server CPU is ``utime + stime`` of the server's whole process tree across the measured
window, divided by the requests wrk completed. Targets are printed as PASS/MISS for
information; the bench exits 0 whatever they say.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import importlib.metadata
import json
import linecache
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._load import Load, LoadResult, have_wrk, run_load, wrk_version
from bench._procs import Child, free_port, host_busy_seconds, pin
from bench._servers import (
    API,
    ISSUE_BODY,
    OPAQUE_API,
    SCOPE,
    VENV_BIN,
    Target,
    ensure_peer_installed,
    mint,
    peer_target,
    post_form,
    start_peer,
    start_tessera,
    tessera_home,
    tessera_target,
)

SERVER_CORES = "0"
LOAD_CORES = "1"
ALL_CORES = "0,1"
CONCURRENCY = (1, 8, 32)
FORM = "application/x-www-form-urlencoded"
ISSUE = "issuance"
ISSUE_2W = "issuance 2w"
INTROSPECT = "introspection"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Point:
    scenario: str
    concurrency: int
    server: str
    result: LoadResult
    cpu_seconds: float
    cpu_split: list[float]  # per server process, largest first
    loadgen_cpu_seconds: float
    other_cpu_seconds: float  # host busy time neither the server nor the load generator used
    rps_runs: list[int] = dataclasses.field(default_factory=list)  # every repeat, sorted

    @property
    def cpu_ms_per_req(self) -> float:
        return self.cpu_seconds * 1e3 / max(1, self.result.requests)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "concurrency": self.concurrency,
            "server": self.server,
            **self.result.as_dict(),
            "server_cpu_seconds": round(self.cpu_seconds, 3),
            "server_cores_busy": round(self.cpu_seconds / max(1e-9, self.result.seconds), 3),
            "cpu_ms_per_req": round(self.cpu_ms_per_req, 4),
            "rps_runs": self.rps_runs,
            "server_cpu_by_process": [round(c, 3) for c in self.cpu_split],
            "loadgen_cpu_seconds": round(self.loadgen_cpu_seconds, 3),
            "other_cores_busy": round(self.other_cores_busy, 3),
        }

    @property
    def other_cores_busy(self) -> float:
        return max(0.0, self.other_cpu_seconds) / max(1e-9, self.result.seconds)


@dataclass
class Run:
    args: argparse.Namespace
    workdir: Path
    pinning: bool
    points: list[Point] = dataclasses.field(default_factory=list)
    children: list[Child] = dataclasses.field(default_factory=list)

    def cores(self, which: str) -> str | None:
        return which if self.pinning else None


# --------------------------------------------------------------------------- checks


def _b64json(part: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def check_target(target: Target) -> dict[str, Any]:
    """One JWT and one introspection by hand: both servers must do the same work."""
    jwt = post_form(target.token_url, target.issuer_client.basic, ISSUE_BODY)["access_token"]
    head, payload, _ = jwt.split(".")
    header, claims = _b64json(head), _b64json(payload)
    if header.get("alg") != "ES256" or header.get("typ") != "at+jwt":
        msg = f"{target.name}: expected an ES256 at+jwt, got header {header}"
        raise RuntimeError(msg)
    if claims.get("aud") != API or set(str(claims.get("scope")).split()) != set(SCOPE.split()):
        msg = f"{target.name}: unexpected claims {sorted(claims)} aud={claims.get('aud')}"
        raise RuntimeError(msg)
    opaque = mint(target.token_url, target.opaque_client, target.opaque_body, 1)[0]
    answer = post_form(target.introspect_url, target.introspector.basic, f"token={opaque}")
    if answer.get("active") is not True or answer.get("aud") not in (OPAQUE_API, [OPAQUE_API]):
        msg = f"{target.name}: introspection answered {answer}"
        raise RuntimeError(msg)
    return {"jwt_bytes": len(jwt), "jwt_claims": sorted(claims), "opaque_bytes": len(opaque)}


def _still_active(target: Target, token: str) -> bool:
    answer = post_form(target.introspect_url, target.introspector.basic, f"token={token}")
    return answer.get("active") is True


# -------------------------------------------------------------------------- measure


def _load_for(run: Run, target: Target, scenario: str, concurrency: int) -> tuple[Load, str]:
    """The load for one point, and (introspection) a pool token to re-check afterwards."""
    headers = {"Content-Type": FORM}
    if scenario == INTROSPECT:
        # A fresh pool each time: Tessera's opaque tokens live 5 minutes.
        pool = mint(target.token_url, target.opaque_client, target.opaque_body, run.args.pool)
        headers["Authorization"] = target.introspector.basic
        load = Load(target.introspect_url, headers, [f"token={t}" for t in pool], concurrency, 0)
        return load, pool[0]
    headers["Authorization"] = target.issuer_client.basic
    return Load(target.token_url, headers, [ISSUE_BODY], concurrency, 0), ""


def _wait_quiet(limit: float) -> None:
    """Wait (at most ``limit`` s) until the host is nearly idle: other sessions share it."""
    deadline = time.monotonic() + limit
    while True:
        start = host_busy_seconds()
        time.sleep(0.5)
        busy = (host_busy_seconds() - start) / 0.5
        if busy < 0.3 or time.monotonic() >= deadline:
            if busy >= 0.3:
                log(f"  (host still busy: {busy:.1f} cores; measuring anyway)")
            return


def _measure_once(
    run: Run, target: Target, scenario: str, concurrency: int, load_cores: str | None
) -> Point:
    load, sample = _load_for(run, target, scenario, concurrency)
    _wait_quiet(run.args.quiet_wait)
    run_load(
        dataclasses.replace(load, duration=run.args.warmup), cores=load_cores, workdir=run.workdir
    )
    target.child.truncate_log()
    before = target.child.cpu_by_pid()
    host_before = host_busy_seconds()
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run_load(
        dataclasses.replace(load, duration=run.args.duration), cores=load_cores, workdir=run.workdir
    )
    after = target.child.cpu_by_pid()
    host = host_busy_seconds() - host_before
    kids_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    loadgen = (kids_after.ru_utime + kids_after.ru_stime) - (kids.ru_utime + kids.ru_stime)
    split = sorted((after[p] - before.get(p, 0.0) for p in after), reverse=True)
    cpu = sum(split)
    if target.child.proc.poll() is not None:
        msg = f"{target.name} died during {scenario} c={concurrency}:\n{target.child.tail()}"
        raise RuntimeError(msg)
    if sample and not _still_active(target, sample):
        msg = f"{target.name}: pool tokens went inactive during the run"
        raise RuntimeError(msg)
    point = Point(
        scenario, concurrency, target.name, result, cpu, split, loadgen, host - cpu - loadgen
    )
    busiest = ", ".join(f"{c:.1f}" for c in split[:3] if c > 0.05)
    log(
        f"  {scenario:<14} c={concurrency:<3} {target.name:<16} {result.rps:9.0f} req/s  "
        f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  "
        f"cpu {point.cpu_ms_per_req:.3f} ms/req  errors {result.errors}  "
        f"[server cpu s by process: {busiest}; other load {point.other_cores_busy:.2f} cores]"
    )
    return point


def measure(
    run: Run, target: Target, scenario: str, concurrency: int, load_cores: str | None
) -> Point:
    """``--repeat`` back-to-back runs, each after its warm-up; keeps the median by req/s."""
    tries = [
        _measure_once(run, target, scenario, concurrency, load_cores)
        for _ in range(run.args.repeat)
    ]
    tries.sort(key=lambda p: p.result.rps)
    point = tries[len(tries) // 2]
    point.rps_runs = [round(p.result.rps) for p in tries]
    run.points.append(point)
    return point


# ---------------------------------------------------------------------------- setup


def _granian_ok() -> bool:
    return (VENV_BIN / "granian").exists()


def _start_single_uvicorn(run: Run, log_name: str) -> tuple[Any, int, Any]:
    """One uvicorn worker of Tessera on the server core, from a fresh home."""
    home = run.workdir / "home"
    port = free_port()
    child = start_tessera(
        home,
        log_level=run.args.log_level,
        port=port,
        workers=1,
        cores=run.cores(SERVER_CORES),
        server="uvicorn",
        log_path=run.workdir / log_name,
    )
    run.children.append(child)
    return child, port, tessera_home(home, run.args.log_level)


def start_targets(run: Run) -> tuple[list[Target], Target, Any]:
    """Tessera (uvicorn; granian too if asked) and the peer, all pinned to the server core."""
    args = run.args
    child, port, th = _start_single_uvicorn(run, "tessera-uvicorn.log")
    tessera: list[Target] = []
    if args.server in ("uvicorn", "both"):
        tessera.append(tessera_target("tessera", child, port, th))
    if args.server in ("granian", "both"):
        gport = free_port()
        gchild = start_tessera(
            run.workdir / "home",  # the same home: granian serves the same database
            log_level=args.log_level,
            port=gport,
            workers=1,
            cores=run.cores(SERVER_CORES),
            server="granian",
            log_path=run.workdir / "tessera-granian.log",
        )
        run.children.append(gchild)
        tessera.append(tessera_target("tessera-granian", gchild, gport, th))
    pport = free_port()
    pchild = start_peer(run.workdir, pport, run.cores(SERVER_CORES))
    run.children.append(pchild)
    return tessera, peer_target(pchild, pport), th


def run_bench(run: Run) -> dict[str, Any]:
    args = run.args
    log("setting up the peer (node-oidc-provider) and Tessera …")
    peer_version = ensure_peer_installed()
    tessera, peer, th = start_targets(run)
    checks = {t.name: check_target(t) for t in [*tessera, peer]}
    load_cores = run.cores(LOAD_CORES)

    log(f"issuance ({args.duration:g} s per point, {args.warmup:g} s warm-up)")
    for c in CONCURRENCY:
        for target in [*tessera, peer]:
            measure(run, target, ISSUE, c, load_cores)

    log("issuance, Tessera on 2 workers, nothing pinned")
    for target in tessera:
        server = "granian" if target.name.endswith("granian") else "uvicorn"
        port = free_port()
        child = start_tessera(
            th.home,
            log_level=args.log_level,
            port=port,
            workers=2,
            cores=None,
            server=server,
            log_path=run.workdir / f"tessera-{server}-2w.log",
        )
        run.children.append(child)
        try:
            measure(run, tessera_target(target.name, child, port, th), ISSUE_2W, 32, None)
        finally:
            child.stop()
            run.children.remove(child)
    if run.pinning:
        peer.child.repin(ALL_CORES)
    try:
        measure(run, peer, ISSUE_2W, 32, None)
    finally:
        if run.pinning:
            peer.child.repin(SERVER_CORES)

    log(f"introspection of opaque tokens (pool of {args.pool}, cycled)")
    for c in CONCURRENCY:
        for target in [*tessera, peer]:
            measure(run, target, INTROSPECT, c, load_cores)

    return {
        "versions": versions(peer_version),
        "checks": checks,
        "tessera_servers": [t.name for t in tessera],
    }


# --------------------------------------------------------------------------- report


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
        "uvloop": dist("uvloop"),
        "httptools": dist("httptools"),
        "wrk": wrk_version(),
        "kernel": platform.release(),
        "cpu": f"{cpu} x{os.cpu_count()}",
    }


def _target_verdict(scenario: str, t: Point, p: Point) -> tuple[str, str]:
    """(rule, PASS/MISS …) for one Tessera point against the peer's in the same row."""
    if scenario == ISSUE:
        ok = t.cpu_ms_per_req <= p.cpu_ms_per_req
        return "CPU/token <= peer", "PASS" if ok else "MISS"
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
        label = {
            ISSUE: "issuance JWT",
            ISSUE_2W: "issuance JWT 2w*",
            INTROSPECT: "introspect opaque",
        }
        line = f"{label[row['scenario']]:<18}{row['concurrency']:>4}"
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


def notes(run: Run, info: dict[str, Any]) -> list[str]:
    args = run.args
    tool = run.points[0].result.tool if run.points else "?"
    pinned = (
        f"servers pinned to core {SERVER_CORES}, load generator to core {LOAD_CORES}"
        if run.pinning
        else "NOT pinned (taskset missing or < 2 cores)"
    )
    out = [
        (
            f"load: {tool}, 1 thread, keep-alive, {args.duration:g} s per run after "
            f"{args.warmup:g} s warm-up, median of {args.repeat} run(s) by req/s; {pinned}."
        ),
        "CPU/req: server process-tree utime+stime over the point / requests completed (ms).",
        (
            "issuance: POST grant_type=client_credentials, scope, resource=https://api.example.test;"
            " Basic auth; ES256 RFC 9068 JWT from both."
        ),
        (
            "* 2w row: Tessera `--workers 2`, peer 1 process, wrk: none pinned (all share "
            f"{os.cpu_count()} cores); target judged against the peer in this row."
        ),
        (
            f"introspection: each point mints a fresh pool of {args.pool} opaque tokens and wrk "
            "cycles through them (one per request, in order)."
        ),
        (
            "introspection caller differs: Tessera's is a resource-server client registered with "
            "--introspect-for https://opaque-api.example.test; the peer lets the token's own "
            "client (svc-billing-01) introspect."
        ),
        f"Tessera log level {args.log_level} (audit line per token on stderr → file, as served).",
        "! = the point had non-2xx responses or socket errors (see --json).",
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


# -------------------------------------------------------------------------- profile


def _frame_key(frame: str) -> str:
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if match is None:
        return frame
    func, path = match.groups()
    path = re.sub(r".*/site-packages/", "", path)
    path = re.sub(r".*/src/tessera/", "tessera/", path)
    path = re.sub(r".*/lib/python3\.\d+/", "stdlib/", path)
    return f"{func} ({path})"


def _package(key: str) -> str:
    path = key.rsplit("(", 1)[-1].rstrip(")")
    top = path.split("/")[0]
    if top == "tessera":
        return "/".join(path.split("/")[:2]).removesuffix(".py")
    return top.removesuffix(".py")


# Leaf lines where a thread blocks in C without py-spy seeing it idle (aiosqlite's worker
# waits on its queue between statements).
_IDLE_SOURCE = ("tx.get()",)


def _is_idle_leaf(frame: str) -> bool:
    match = re.match(r".* \((.*):(\d+)\)$", frame)
    if match is None:
        return False
    source = linecache.getline(match.group(1), int(match.group(2)))
    return any(marker in source for marker in _IDLE_SOURCE)


def summarize_profile(raw: Path, top: int) -> dict[str, Any]:
    """Self and inclusive sample shares from py-spy's collapsed (``--format raw``) output.

    Shares are of busy samples: py-spy drops idle ones, and the blocking waits it misses
    (``_IDLE_SOURCE``) are dropped here and counted apart.
    """
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    total = idle = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        raw_frames = [f for f in stack.split(";") if "(" in f]
        if not raw_frames:
            continue
        if _is_idle_leaf(raw_frames[-1]):
            idle += n
            continue
        frames = [_frame_key(f) for f in raw_frames]
        total += n
        self_counts[frames[-1]] += n
        for key in set(frames):
            incl_counts[key] += n
    packages: Counter[str] = Counter()
    for key, n in self_counts.items():
        packages[_package(key)] += n

    def share(counter: Counter[str], k: int) -> list[tuple[str, float]]:
        return [(name, n / max(1, total)) for name, n in counter.most_common(k)]

    # The process root (``serve``) is in every sample; it says nothing.
    tessera_incl = Counter(
        {k: v for k, v in incl_counts.items() if "(tessera/" in k and v < 0.99 * total}
    )
    return {
        "samples": total,
        "idle_waits_dropped": idle,
        "self": share(self_counts, top),
        "self_by_package": share(packages, 12),
        "inclusive_tessera": share(tessera_incl, top),
    }


def run_profile(run: Run) -> dict[str, Any]:
    args = run.args
    pyspy = VENV_BIN / "py-spy"
    if not pyspy.exists():
        msg = "py-spy is not installed in the venv (.venv/bin/pip install py-spy)"
        raise RuntimeError(msg)
    child, port, th = _start_single_uvicorn(run, "tessera-profile.log")
    target = tessera_target("tessera", child, port, th)
    check_target(target)
    if args.profile == INTROSPECT:
        pool = mint(target.token_url, target.opaque_client, target.opaque_body, args.pool)
        auth, url = target.introspector.basic, target.introspect_url
        bodies = [f"token={t}" for t in pool]
    else:
        auth, url, bodies = target.issuer_client.basic, target.token_url, [ISSUE_BODY]
    headers = {"Content-Type": FORM, "Authorization": auth}
    load = Load(url, headers, bodies, 8, args.warmup)
    run_load(load, cores=run.cores(LOAD_CORES), workdir=run.workdir)
    out = Path(args.profile_out)
    seconds = max(2, round(args.duration))
    spy = subprocess.Popen(
        pin(
            run.cores(LOAD_CORES),
            [
                str(pyspy),
                "record",
                "--pid",
                str(child.pid),
                "--rate",
                "250",
                "--format",
                "raw",
                "--duration",
                str(seconds + 1),
                "-o",
                str(out),
            ],
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        time.sleep(1.0)
        result = run_load(
            dataclasses.replace(load, duration=seconds),
            cores=run.cores(LOAD_CORES),
            workdir=run.workdir,
        )
        _, err = spy.communicate(timeout=seconds + 60)
    finally:
        if spy.poll() is None:
            os.killpg(spy.pid, signal.SIGTERM)
            spy.wait(timeout=10)
    if spy.returncode != 0 or not out.exists():
        msg = f"py-spy failed ({spy.returncode}): {err.decode(errors='replace')[-500:]}"
        raise RuntimeError(msg)
    summary = summarize_profile(out, args.top)
    summary["load"] = result.as_dict()
    summary["scenario"] = args.profile
    summary["raw_profile"] = str(out)
    return summary


def render_profile(summary: dict[str, Any]) -> str:
    load = summary["load"]
    lines = [
        (
            f"py-spy, Tessera 1 worker (uvicorn), {summary['scenario']} c=8: "
            f"{load['rps']:.0f} req/s under "
            f"sampling; {summary['samples']} busy samples "
            f"({summary['idle_waits_dropped']} idle-wait samples dropped)."
        ),
        f"raw collapsed stacks: {summary['raw_profile']}",
        "",
        "top functions by self time (share of busy samples):",
    ]
    lines += [f"  {s * 100:5.1f}%  {name}" for name, s in summary["self"]]
    lines += ["", "self time by package/module:"]
    lines += [f"  {s * 100:5.1f}%  {name}" for name, s in summary["self_by_package"]]
    lines += ["", "inclusive time, Tessera functions:"]
    lines += [f"  {s * 100:5.1f}%  {name}" for name, s in summary["inclusive_tessera"]]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.server", description=__doc__)
    parser.add_argument("--duration", type=float, default=None, help="seconds per point (10)")
    parser.add_argument("--warmup", type=float, default=None, help="warm-up seconds per point")
    parser.add_argument("--quick", action="store_true", help="3 s points, 1 s warm-up")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per point; the median by req/s is kept"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument(
        "--server",
        choices=("uvicorn", "granian", "both"),
        default="uvicorn",
        help="what serves Tessera's ASGI app (both: two Tessera columns)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=20.0,
        help="before each run, wait up to this many seconds for the host to go idle",
    )
    parser.add_argument("--pool", type=int, default=500, help="opaque tokens per pool")
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="TESSERA_LOG_LEVEL for the servers (info = Tessera's default, audit lines on)",
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const=ISSUE,
        choices=(ISSUE, INTROSPECT),
        help="instead of the bench: py-spy Tessera (1 uvicorn worker) under c=8 load "
        "(default: issuance)",
    )
    parser.add_argument(
        "--profile-out",
        default="/tmp/tessera-profile.txt",  # noqa: S108 - a file the user is told about
        help="profile: where py-spy's collapsed stacks go (kept)",
    )
    parser.add_argument("--top", type=int, default=15, help="profile: functions to list")
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 3.0 if args.quick else 10.0
    if not 1 <= args.repeat <= 9:
        parser.error("--repeat must be 1..9")
    if args.warmup is None:
        args.warmup = 1.0 if args.quick else 2.0
    if not 1 <= args.pool <= 900:  # the peer's in-memory adapter keeps 1000 entries (LRU)
        parser.error("--pool must be 1..900")
    if args.server != "uvicorn" and not _granian_ok():
        parser.error("granian is not installed in the venv (.venv/bin/pip install granian)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the finally below stops every server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    pinning = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    if not have_wrk():
        log("wrk not found: using the asyncio fallback load generator (a floor, not wrk's figures)")
    workdir = Path(tempfile.mkdtemp(prefix="tessera-bench-"))
    run = Run(args, workdir, pinning)
    load_before = os.getloadavg()
    try:
        if args.profile:
            summary = run_profile(run)
            print(json.dumps(summary, indent=2) if args.json else render_profile(summary))
            return 0
        info = run_bench(run)
    finally:
        for child in reversed(run.children):
            child.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    servers = [*info["tessera_servers"], "peer"]
    table = rows(run, servers)
    host = {"loadavg_before": load_before, "loadavg_after": os.getloadavg()}
    if args.json:
        doc = {
            **info,
            "host": host,
            "config": {k: v for k, v in vars(args).items() if not k.startswith("profile")},
            "rows": table,
            "notes": notes(run, info),
        }
        print(json.dumps(doc, indent=2))
        return 0
    print(render(table, servers))
    print()
    for note in notes(run, info):
        print(f"- {note}")
    print(f"- host load average (1/5/15 min) before {load_before}, after {host['loadavg_after']}.")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
