"""Where the shared test vectors live (``../shared`` beside the checkout, always there in CI).

A module of its own, not conftest: tests import it by name, and two conftest modules exist.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def shared_dir() -> Path | None:
    """``../shared`` beside the checkout (always there in CI), or ``$TESSERA_SHARED_DIR``."""
    configured = os.environ.get("TESSERA_SHARED_DIR")
    candidate = Path(configured) if configured else ROOT.parent / "shared"
    return candidate if candidate.is_dir() else None


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
