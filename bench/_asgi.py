"""One GET through an app's ASGI interface, with no server or socket: for in-process benches.

The body is consumed and counted (bytes, lines), never kept, so a long export costs the bench
no memory; a request with no token sends no ``Authorization`` header.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

__all__ = ["Outcome", "call"]


@dataclass
class Outcome:
    status: int = 0
    body_bytes: int = 0
    lines: int = 0


async def call(app: Any, path: str, query: str = "", token: str | None = None) -> Outcome:
    """One GET through the ASGI interface; the body is consumed (and counted), not kept."""
    headers = [(b"host", b"data.test")]
    if token is not None:
        headers.append((b"authorization", b"Bearer " + token.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    outcome = Outcome()
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # a client that stays connected until the end
        sent = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            outcome.status = message["status"]
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            outcome.body_bytes += len(chunk)
            outcome.lines += chunk.count(b"\n")

    await app(scope, receive, send)
    return outcome
