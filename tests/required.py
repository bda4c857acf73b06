"""Real services and tools the tests need: skipped with a reason on a developer's machine,
a FAILURE where CI is set (a missing service must never pass silently)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest
import redis
import redis.asyncio as aioredis

from shared_data import IN_CI

CHROMIUM = Path("/usr/bin/chromium")
REDIS_URL = os.environ.get("TESSERA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unavailable(reason: str, what: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"{reason} (CI must run the {what})", pytrace=False)
    pytest.skip(reason)


def require_browser() -> Path:
    """Playwright importable and Debian's Chromium present; its path."""
    try:
        import playwright  # noqa: F401, PLC0415 - only probing that it is installed
    except ImportError as exc:
        unavailable(f"playwright is not installed: {exc}", "browser tests")
    if not CHROMIUM.is_file():
        unavailable(f"no Chromium at {CHROMIUM}", "browser tests")
    return CHROMIUM


async def redis_client(*, decode_responses: bool) -> aioredis.Redis:
    """A connected client of the test Redis (``TESSERA_TEST_REDIS_URL``)."""
    client = aioredis.from_url(REDIS_URL, decode_responses=decode_responses)
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as exc:
        await client.aclose()
        unavailable(f"Redis unavailable at {REDIS_URL}: {exc!r}", "Redis tests")
    return client


def require_redis() -> None:
    """The test Redis answers a PING (for tests that hand its URL to another process)."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except (OSError, redis.RedisError) as exc:
        unavailable(f"Redis unavailable at {REDIS_URL}: {exc!r}", "Redis tests")
    finally:
        client.close()
