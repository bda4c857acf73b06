"""A real `tessera serve` process for tests: start on a free loopback port, wait, clean up.

A module (not a conftest) so that tests import it by name; each use gets its own home.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

TESSERA = Path(sys.executable).parent / "tessera"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes], limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            pytest.fail(f"{url} did not come up")
        time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, up to 10 s for a clean exit, then SIGKILL; reaped either way."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Served:
    base: str
    env: dict[str, str]

    @property
    def issuer(self) -> str:
        return f"{self.base}/t/default"

    def add_client(self, client_id: str, *args: str) -> str:
        """``tessera clients add`` against this server's home; returns the new secret."""
        added = subprocess.run(
            [str(TESSERA), "clients", "add", client_id, *args, "--json"],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        secret: str = json.loads(added.stdout)["client_secret"]
        return secret


@contextmanager
def tessera_serve(home: Path, **settings: str) -> Iterator[Served]:
    """Run ``tessera serve`` with ``TESSERA_<NAME>`` settings; nothing of ours leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env["TESSERA_HOME"] = str(home)
    env |= {f"TESSERA_{name.upper()}": value for name, value in settings.items()}
    port = free_port()
    process = subprocess.Popen(
        [str(TESSERA), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{base}/healthz", process)
        yield Served(base, env)
    finally:
        stop(process)
