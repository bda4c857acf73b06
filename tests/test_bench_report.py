"""The server bench's verdicts and part selection (no servers: built from fixed points)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from bench._load import LoadResult
from bench._measure import Point, Run
from bench._report import refresh_summary, rows
from bench._scenarios import REFRESH
from bench.server import parse_args


def _point(server: str, c: int, rps: float, errors: int = 0) -> Point:
    result = LoadResult(int(rps * 10), 10.0, rps, 1.0, 2.0, errors, "wrk")
    return Point(REFRESH, c, server, result, rps * 10 * 1e-3, [], 0.0, 0.0)


def _run(points: list[Point]) -> Run:
    run = Run(argparse.Namespace(), Path(), pinning=True)
    run.points.extend(points)
    return run


def test_refresh_passes_only_at_one_and_a_half_times_the_peer_at_every_c() -> None:
    run = _run(
        [
            _point("tessera", 1, 150.0),
            _point("peer", 1, 100.0),
            _point("tessera", 8, 149.0),
            _point("peer", 8, 100.0),
        ]
    )
    table = rows(run, ["tessera", "peer"])
    assert [r["vs_peer"]["tessera"]["verdict"] for r in table] == ["PASS", "FAIL"]
    (line,) = refresh_summary(table, ["tessera", "peer"])
    assert line.endswith("FAIL")
    assert "c=1/8: 1.50 / 1.49" in line


def test_a_point_with_errors_is_not_judged() -> None:
    run = _run([_point("tessera", 1, 500.0, errors=3), _point("peer", 1, 100.0)])
    (row,) = rows(run, ["tessera", "peer"])
    assert row["vs_peer"]["tessera"]["verdict"] == "INVALID (errors)"


def test_only_selects_parts_and_refuses_unknown_ones() -> None:
    assert parse_args(["--only", "refresh,login"]).only == ["refresh", "login"]
    assert "refresh" in parse_args([]).only
    with pytest.raises(SystemExit):
        parse_args(["--only", "refresh,nonsense"])
