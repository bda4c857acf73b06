"""One measured point of the server bench: warm-up, measured run, server CPU, host noise.

Server CPU is ``utime + stime`` of the server's whole process tree across the measured run,
divided by the requests the load generator completed. What a point sends comes from a
:class:`Feed`, built afresh for each repeat: its ``load()`` is called before the warm-up and
again before the measured run (a refresh feed seeds new chains each time), ``after()`` once
the run is over (e.g. to check the pool tokens are still live).
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._load import Load, LoadResult, run_load
from bench._procs import Child, host_busy_seconds
from bench._servers import Target

__all__ = [
    "ALL_CORES",
    "LOAD_CORES",
    "SERVER_CORES",
    "Feed",
    "Point",
    "Run",
    "log",
    "measure",
]

SERVER_CORES = "0"
LOAD_CORES = "1"
ALL_CORES = "0,1"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Feed:
    """What one point sends: a fresh :class:`Load` per run, and a check after the runs."""

    load: Callable[[], Load]
    after: Callable[[], None] = _nothing


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

    @property
    def other_cores_busy(self) -> float:
        return max(0.0, self.other_cpu_seconds) / max(1e-9, self.result.seconds)

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


@dataclass
class Run:
    args: argparse.Namespace
    workdir: Path
    pinning: bool
    points: list[Point] = dataclasses.field(default_factory=list)
    children: list[Child] = dataclasses.field(default_factory=list)

    def cores(self, which: str) -> str | None:
        return which if self.pinning else None


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
    run: Run, target: Target, scenario: str, concurrency: int, load_cores: str | None, feed: Feed
) -> Point:
    args = run.args
    warmup = dataclasses.replace(feed.load(), duration=args.warmup)
    _wait_quiet(args.quiet_wait)
    run_load(warmup, cores=load_cores, workdir=run.workdir)
    load = dataclasses.replace(feed.load(), duration=args.duration)
    target.child.truncate_log()
    before = target.child.cpu_by_pid()
    host_before = host_busy_seconds()
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run_load(load, cores=load_cores, workdir=run.workdir)
    after = target.child.cpu_by_pid()
    host = host_busy_seconds() - host_before
    kids_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    loadgen = (kids_after.ru_utime + kids_after.ru_stime) - (kids.ru_utime + kids.ru_stime)
    split = sorted((after[p] - before.get(p, 0.0) for p in after), reverse=True)
    cpu = sum(split)
    if target.child.proc.poll() is not None:
        msg = f"{target.name} died during {scenario} c={concurrency}:\n{target.child.tail()}"
        raise RuntimeError(msg)
    feed.after()
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
    run: Run,
    target: Target,
    scenario: str,
    concurrency: int,
    load_cores: str | None,
    feed: Callable[[], Feed],
) -> Point:
    """``--repeat`` back-to-back runs, each after its warm-up; keeps the median by req/s."""
    tries = [
        _measure_once(run, target, scenario, concurrency, load_cores, feed())
        for _ in range(run.args.repeat)
    ]
    tries.sort(key=lambda p: p.result.rps)
    point = tries[len(tries) // 2]
    point.rps_runs = [round(p.result.rps) for p in tries]
    run.points.append(point)
    return point
