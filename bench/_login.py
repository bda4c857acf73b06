"""The cost of one login: argon2id verification at Tessera's default parameters.

Timed in-process, apart from the HTTP points (a login is dominated by this one call, and
the peer's interactive login has nothing comparable to measure). ``verify`` is Tessera's own
:class:`~tessera.server.passwords.PasswordHasher` built from the default settings
(``password_time_cost``, ``password_memory_kib``, ``password_parallelism``), with the right
password, so the argon2 work is exactly one login's. Wall time is what a user waits (argon2
may run its lanes on several threads); CPU time (``time.process_time``, all threads) is
what it costs, and gives logins per second per core.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

__all__ = ["measure_login", "render_login"]


def measure_login(runs: int = 20) -> dict[str, Any]:
    from tessera.config import Settings  # noqa: PLC0415 - the bench's other parts run without
    from tessera.secret import Secret  # noqa: PLC0415
    from tessera.server.passwords import PasswordHasher  # noqa: PLC0415

    settings = Settings.model_validate({})  # the defaults, not this process's TESSERA_*
    hasher = PasswordHasher.from_settings(settings)
    password = Secret("correct horse battery staple")
    stored = hasher.hash(password)
    hasher.verify(stored, password)  # warm-up: first-touch of the 64 MiB
    wall, cpu = [], []
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        if hasher.verify(stored, password) is not None:
            msg = "the hash was made with the same parameters: no rehash expected"
            raise RuntimeError(msg)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    cpu_ms = statistics.median(cpu) * 1e3
    return {
        "runs": runs,
        "time_cost": settings.password_time_cost,
        "memory_kib": settings.password_memory_kib,
        "parallelism": settings.password_parallelism,
        "wall_ms_p50": round(statistics.median(wall) * 1e3, 2),
        "wall_ms_min": round(min(wall) * 1e3, 2),
        "cpu_ms_p50": round(cpu_ms, 2),
        "logins_per_s_per_core": round(1e3 / cpu_ms, 1),
    }


def render_login(login: dict[str, Any]) -> str:
    return (
        f"login (argon2id verify, t={login['time_cost']}, m={login['memory_kib']} KiB, "
        f"p={login['parallelism']}; median of {login['runs']}): "
        f"{login['wall_ms_p50']:.1f} ms wall (min {login['wall_ms_min']:.1f}), "
        f"{login['cpu_ms_p50']:.1f} ms CPU → {login['logins_per_s_per_core']:.1f} logins/s "
        "per core."
    )
