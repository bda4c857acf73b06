"""Token endpoint, introspection and the refresh grant under load: Tessera beside
node-oidc-provider, one run; and the cost of one login (argon2id), timed apart.

Run ``python -m bench.server`` (``--quick`` for 3 s points, ``--json`` for machine output,
``--only refresh,login`` for some parts only, ``--server both`` to add granian serving
Tessera's ASGI app, ``--profile`` to sample Tessera's token endpoint with py-spy instead).
See bench/README.md for what each number means.

Parts, in the order they run (``--only`` names them): ``login``; ``issuance`` at 1, 8, 32
connections; ``issuance-2w`` (Tessera on 2 workers, nothing pinned); ``introspection`` at 1,
8, 32; ``refresh`` (the refresh grant, every use rotating the token: one chain per
connection) at 1, 8, 32. Each point is measured for Tessera and the peer back to back (so
drift hits both alike), servers pinned to core 0 and wrk to core 1.

Server CPU is ``utime + stime`` of the server's whole process tree across the measured
window, divided by the requests wrk completed. Targets are printed as PASS/MISS/FAIL for
information; the bench exits 0 whatever they say.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench._load import have_wrk
from bench._login import measure_login, render_login
from bench._measure import Run, log
from bench._profile import render_profile, run_profile
from bench._report import notes, refresh_summary, render, rows, versions
from bench._scenarios import INTROSPECT, ISSUE, REFRESH, SCENARIOS, run_bench
from bench._servers import VENV_BIN

LOGIN = "login"
PARTS = (LOGIN, *SCENARIOS)


def _granian_ok() -> bool:
    return (VENV_BIN / "granian").exists()


def _parts(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in PARTS]
    if unknown or not names:
        msg = f"choose from {', '.join(PARTS)} (comma-separated), not {', '.join(unknown)}"
        raise argparse.ArgumentTypeError(msg)
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.server", description=__doc__)
    parser.add_argument("--duration", type=float, default=None, help="seconds per point (10)")
    parser.add_argument("--warmup", type=float, default=None, help="warm-up seconds per point")
    parser.add_argument("--quick", action="store_true", help="3 s points, 1 s warm-up")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per point; the median by req/s is kept"
    )
    parser.add_argument(
        "--only",
        type=_parts,
        default=list(PARTS),
        metavar="PART[,PART]",
        help=f"run only these parts: {', '.join(PARTS)} (default: all)",
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
        "--login-runs", type=int, default=20, help="login: argon2id verifications timed"
    )
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
        choices=(ISSUE, INTROSPECT, REFRESH),
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
    if not 1 <= args.login_runs <= 200:
        parser.error("--login-runs must be 1..200")
    if args.server != "uvicorn" and not _granian_ok():
        parser.error("granian is not installed in the venv (.venv/bin/pip install granian)")
    return args


def _print_table(run: Run, info: dict[str, Any], host: dict[str, Any]) -> None:
    if run.points:
        servers = [*info["tessera_servers"], "peer"]
        table = rows(run, servers)
        print(render(table, servers))
        print()
        for line in refresh_summary(table, servers):
            print(line)
        for note in notes(run, info):
            print(f"- {note}")
    if "login" in info:
        print(render_login(info["login"]))
    print(
        f"- host load average (1/5/15 min) before {host['loadavg_before']}, "
        f"after {host['loadavg_after']}."
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v))


def _json_doc(run: Run, info: dict[str, Any], host: dict[str, Any]) -> dict[str, Any]:
    servers = [*info.get("tessera_servers", []), "peer"]
    table = rows(run, servers) if run.points else []
    return {
        **info,
        "host": host,
        "config": {k: v for k, v in vars(run.args).items() if not k.startswith("profile")},
        "rows": table,
        "refresh_summary": refresh_summary(table, servers),
        "notes": notes(run, info) if run.points else [],
    }


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
    info: dict[str, Any] = {}
    try:
        if args.profile:
            summary = run_profile(run)
            print(json.dumps(summary, indent=2) if args.json else render_profile(summary))
            return 0
        if LOGIN in args.only:
            log(f"login cost: {args.login_runs} argon2id verifications at the default parameters")
            info["login"] = measure_login(args.login_runs)
        scenarios = [SCENARIOS[p] for p in args.only if p in SCENARIOS]
        if scenarios:
            info |= run_bench(run, scenarios)
    finally:
        for child in reversed(run.children):
            child.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    info["versions"] = versions(info.pop("peer_version", None))
    host = {"loadavg_before": load_before, "loadavg_after": os.getloadavg()}
    if args.json:
        print(json.dumps(_json_doc(run, info, host), indent=2))
    else:
        _print_table(run, info, host)
    return 0


if __name__ == "__main__":
    sys.exit(main())
