"""``--profile``: py-spy sampling of Tessera's token endpoint (client credentials or refresh)
or introspection under c=8 load.

One pinned uvicorn worker, sampled with ``py-spy record --format raw`` (250 Hz, blocking).
Prints the top functions by self time, self time per package and the inclusive time of
Tessera's own functions; the collapsed stacks are kept for a flame graph.
"""

from __future__ import annotations

import dataclasses
import linecache
import os
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench._load import run_load
from bench._measure import LOAD_CORES, Run
from bench._procs import pin
from bench._refresh import tessera_refresher
from bench._scenarios import (
    INTROSPECT,
    REFRESH,
    check_refresh,
    check_target,
    introspect_feed,
    issue_feed,
    refresh_feed,
    start_single_uvicorn,
)
from bench._servers import VENV_BIN, tessera_target

__all__ = ["render_profile", "run_profile", "summarize_profile"]


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
    child, port, th = start_single_uvicorn(run, "tessera-profile.log")
    refresher = tessera_refresher(th) if args.profile == REFRESH else None
    target = tessera_target("tessera", child, port, th)
    check_target(target)
    if refresher is not None:
        check_refresh(target, refresher)
        feed = refresh_feed(target, refresher, 8)
    elif args.profile == INTROSPECT:
        feed = introspect_feed(target, 8, args.pool)
    else:
        feed = issue_feed(target, 8)
    warmup = dataclasses.replace(feed.load(), duration=args.warmup)
    run_load(warmup, cores=run.cores(LOAD_CORES), workdir=run.workdir)
    load = feed.load()
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
