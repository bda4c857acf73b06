"""Child processes for the server bench: start in their own group, CPU time, clean stop.

Every server runs in a new session (its own process group), so stopping it reaches uvicorn's
or granian's worker processes too. CPU time is ``utime + stime`` from ``/proc/<pid>/stat``,
summed over the process and all its descendants (a multi-worker master and its children).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = [
    "Child",
    "free_port",
    "host_busy_seconds",
    "pin",
    "start",
    "tree_cpu_by_pid",
    "tree_cpu_seconds",
    "wait_http",
]

_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pin(cores: str | None, argv: Sequence[str]) -> list[str]:
    """``argv`` under ``taskset -c cores`` (unchanged when ``cores`` is None)."""
    if cores is None:
        return list(argv)
    if shutil.which("taskset") is None:
        return list(argv)
    return ["taskset", "-c", cores, *argv]


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, utime + stime in ticks) of ``pid``; None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may hold spaces or parentheses: the fields start after the LAST ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                children.setdefault(stat[0], []).append(int(entry.name))
    found, todo = [root], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used so far by ``root`` and every live descendant."""
    return sum(tree_cpu_by_pid(root).values())


def tree_cpu_by_pid(root: int) -> dict[int, float]:
    """CPU seconds used so far by each live process of the tree under ``root``."""
    out = {}
    for pid in _descendants(root):
        stat = _stat(pid)
        if stat is not None:
            out[pid] = stat[1] / _TICKS
    return out


def host_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (``/proc/stat``), steal included."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICKS


@dataclass
class Child:
    """A server process (and its group) started by the bench."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.proc.pid)

    def cpu_by_pid(self) -> dict[int, float]:
        return tree_cpu_by_pid(self.proc.pid)

    def repin(self, cores: str) -> None:
        """Move every thread of every process of the tree onto ``cores``."""
        for pid in _descendants(self.proc.pid):
            subprocess.run(
                ["taskset", "-a", "-p", "-c", cores, str(pid)],  # noqa: S607 - util-linux
                check=False,
                capture_output=True,
            )

    def truncate_log(self) -> None:
        """Keep the log small: the child appends (O_APPEND), so truncation is safe."""
        with contextlib.suppress(OSError):
            os.truncate(self.log_path, 0)

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the group, then SIGKILL whatever is left of it."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=timeout)
        # Workers may outlive a master that died first: the group id is the master's pid.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.log.close()


def start(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log_path: Path,
    cwd: Path | None = None,
) -> Child:
    log = log_path.open("ab")
    proc = subprocess.Popen(
        list(argv),
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Child(name, proc, log_path, log)


def wait_http(child: Child, url: str, timeout: float = 30.0) -> None:
    """Wait until ``url`` answers (any HTTP status); raise if the child dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            msg = f"{child.name} exited with {child.proc.returncode}:\n{child.tail()}"
            raise RuntimeError(msg)
        try:
            with urllib.request.urlopen(url, timeout=1.0):  # noqa: S310 - loopback URL
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    msg = f"{child.name} did not answer {url} within {timeout:.0f} s:\n{child.tail()}"
    raise RuntimeError(msg)
