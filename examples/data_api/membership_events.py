"""PostgreSQL: membership changes made by ANY process reach this process's cache at once.

A trigger on ``memberships`` (see the migration) NOTIFYs each change when its transaction
commits; :class:`MembershipListener` LISTENs on a dedicated connection and drops the cached
answer. Measured on a local PostgreSQL 15: the removed member's next request is refused
2–3 ms after the deleting transaction commits (``test_a_member_removed_by_another_process``
prints it; it fails beyond 1 s). The cache TTL still bounds staleness if the listener is
down; on every (re)connect the whole cache is dropped, because notifications sent while
nobody listened are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import asyncpg
import structlog

from tessera.authz import MembershipCache

__all__ = ["CHANNEL", "MembershipListener"]

CHANNEL = "data_api_memberships"
_log = structlog.get_logger("examples.data_api")


class MembershipListener:
    def __init__(
        self,
        dsn: str,
        cache: MembershipCache,
        *,
        reconnect_delay: float = 1.0,
        keepalive: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self._cache = cache
        self._reconnect_delay = reconnect_delay
        self._keepalive = keepalive
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.listening.clear()

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            change = json.loads(payload) if payload != "*" else None
        except ValueError:
            change = None
        if (
            isinstance(change, dict)
            and isinstance(change.get("tenant_id"), str)
            and isinstance(change.get("subject"), str)
        ):
            self._cache.invalidate(change["tenant_id"], change["subject"])
        else:
            # '*' (a TRUNCATE, or a payload too large to send) or anything unexpected.
            self._cache.clear()

    async def _run(self) -> None:
        while True:
            try:
                await self._session()
                error = "ConnectionClosed"
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                error = type(exc).__name__
            _log.warning("membership listener disconnected; reconnecting", error=error)
            self.listening.clear()
            await asyncio.sleep(self._reconnect_delay)

    async def _session(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=10)
        try:
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(CHANNEL, self._on_notify)
            self._cache.clear()
            self.listening.set()
            while not lost.is_set():
                try:
                    await asyncio.wait_for(lost.wait(), self._keepalive)
                except TimeoutError:
                    # A silent network failure never closes the socket: ask, or learn.
                    await conn.execute("SELECT 1", timeout=self._keepalive)
        finally:
            self.listening.clear()
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await conn.close(timeout=2)
