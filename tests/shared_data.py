"""Where the shared test vectors live (``../shared`` beside the checkout, always there in CI).

A module of its own, not conftest: tests import it by name, and two conftest modules exist.
"""

from __future__ import annotations

import os
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@cache
def _beside_local_origin() -> Path | None:
    """``shared`` beside the repository this one was cloned from, if that is a local path.

    A throw-away clone (``git clone . "$(mktemp -d)"``, the check before a change lands) has
    no ``../shared`` of its own, but its origin, the working checkout, does.
    """
    try:
        found = subprocess.run(
            ["git", "-C", str(ROOT), "remote", "get-url", "origin"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    origin = Path(found.stdout.strip().removeprefix("file://"))
    if found.returncode != 0 or not origin.is_absolute() or not origin.is_dir():
        return None
    return origin.resolve().parent / "shared"


def shared_dir() -> Path | None:
    """``$TESSERA_SHARED_DIR``, else ``../shared`` beside the checkout (always there in CI),
    else beside a local origin (a clone made for a clean run)."""
    configured = os.environ.get("TESSERA_SHARED_DIR")
    if configured:
        candidates = [Path(configured)]
    else:
        candidates = [ROOT.parent / "shared"]
        beside_origin = _beside_local_origin()
        if beside_origin is not None:
            candidates.append(beside_origin)
    return next((c for c in candidates if c.is_dir()), None)


def require_shared(relative: str) -> Path:
    """Path to a file under shared/; skip with a reason elsewhere, FAIL when CI is set."""
    base = shared_dir()
    path = base / relative if base is not None else None
    if path is None or not path.exists():
        message = f"shared test data {relative!r} not found (looked beside the checkout)"
        if IN_CI:
            pytest.fail(message + "; CI must have ../shared", pytrace=False)
        pytest.skip(message)
    return path
