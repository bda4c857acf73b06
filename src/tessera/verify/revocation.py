"""Revocation with bounded staleness, on the verifier's side.

:class:`RevocationFeed` is the local denylist: an exact set of revoked ``jti`` values, each
kept until its own ``exp`` (then it cannot verify anyway), bounded in memory. It also knows
how fresh it is: every event and heartbeat marks it alive. When it has been silent longer
than ``max_staleness`` it FAILS CLOSED — every token is refused with
``revocation_feed_stale`` — unless configured to fail open, and it says so in its logs and
in :meth:`RevocationFeed.health`. A full denylist fails closed too (dropping entries would
quietly accept revoked tokens).

:class:`RedisRevocationSubscriber` keeps a feed current from Redis: it subscribes to the
channel, then replays the stream from the last id it applied (catch-up after a start or a
reconnect), and reconnects with a delay when Redis goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from tessera.errors import RevocationFeedStale, TokenRevoked
from tessera.events.bus import RevocationEvent
from tessera.events.redis_bus import CHANNEL, STREAM, decode_event

__all__ = ["RedisRevocationSubscriber", "RevocationFeed"]

_log = structlog.get_logger("tessera.verify.revocation")


class RevocationFeed:
    def __init__(
        self,
        *,
        max_staleness: float = 30.0,
        fail_open: bool = False,
        max_entries: int = 1_000_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_staleness = max_staleness
        self.fail_open = fail_open
        self.max_entries = max_entries
        self._clock = clock
        self._denied: dict[str, float] = {}
        self.last_seen: float | None = None
        self.overflowed = False
        self._listeners: list[Callable[[RevocationEvent], None]] = []
        self._warned_stale = False

    # inputs --------------------------------------------------------------------------

    def alive(self, now: float | None = None) -> None:
        """An event, a heartbeat or a successful catch-up: the feed is current."""
        self.last_seen = self._clock() if now is None else now
        self._warned_stale = False

    def apply(self, event: RevocationEvent) -> None:
        now = self._clock()
        self.alive(now)
        if event.kind == "jti" and event.expires_at > now:
            if len(self._denied) >= self.max_entries:
                self._purge(now)
            if len(self._denied) >= self.max_entries:
                self.overflowed = True
                _log.error("revocation denylist full; failing closed", entries=len(self._denied))
            else:
                self._denied[event.value] = max(event.expires_at, self._denied.get(event.value, 0))
        for listener in self._listeners:
            listener(event)

    def on_revoked(self, listener: Callable[[RevocationEvent], None]) -> None:
        """Call ``listener`` for every applied event (e.g. to drop cached verifications)."""
        self._listeners.append(listener)

    # the check -----------------------------------------------------------------------

    def check(self, jti: object, now: float) -> None:
        """Raise unless the feed is fresh (or fails open) and ``jti`` is not revoked."""
        if not self.fail_open and (self.overflowed or self._stale(now)):
            self._warn_stale()
            raise RevocationFeedStale("revocation status is unknown: the feed is stale")
        if type(jti) is str:
            until = self._denied.get(jti)
            if until is not None and until > now:
                raise TokenRevoked("token has been revoked")

    def _stale(self, now: float) -> bool:
        return self.last_seen is None or now - self.last_seen > self.max_staleness

    def _warn_stale(self) -> None:
        if not self._warned_stale:
            self._warned_stale = True
            _log.error("revocation feed is stale; refusing tokens (fail closed)")

    def _purge(self, now: float) -> None:
        self._denied = {jti: exp for jti, exp in self._denied.items() if exp > now}

    def health(self, now: float | None = None) -> dict[str, Any]:
        now = self._clock() if now is None else now
        stale = self.overflowed or self._stale(now)
        return {
            "fresh": not stale,
            "fail_open": self.fail_open,
            "age": None if self.last_seen is None else now - self.last_seen,
            "entries": len(self._denied),
            "max_entries": self.max_entries,
        }


def _stream_id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


class RedisRevocationSubscriber:
    def __init__(
        self,
        url: str,
        feed: RevocationFeed,
        *,
        stream: str = STREAM,
        channel: str = CHANNEL,
        last_id: str | None = "0",
        reconnect_delay: float = 0.5,
    ) -> None:
        self.url = url
        self.feed = feed
        self.stream = stream
        self.channel = channel
        # None: start from the stream's current end (skip history); "0": replay it all.
        self.last_id = last_id
        self.reconnect_delay = reconnect_delay
        self.connected = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.connected = False

    async def _run(self) -> None:
        while True:
            try:
                await self._session()
            except (RedisError, OSError) as exc:
                self.connected = False
                _log.warning("revocation feed disconnected; retrying", error=type(exc).__name__)
            await asyncio.sleep(self.reconnect_delay)

    async def _session(self) -> None:
        client = aioredis.from_url(self.url, decode_responses=True)
        try:
            pubsub = client.pubsub()
            await pubsub.subscribe(self.channel)
            if self.last_id is None:
                newest = await client.xrevrange(self.stream, count=1)
                self.last_id = str(newest[0][0]) if newest else "0-0"
            # Subscribed first, then replay: nothing published in between is missed, and
            # what arrives twice is skipped by its stream id.
            for event_id, fields in await client.xrange(self.stream, min=f"({self.last_id}") or ():
                if isinstance(event_id, str) and isinstance(fields, dict):
                    self._apply(event_id, {str(k): v for k, v in fields.items()})
            self.connected = True
            self.feed.alive()
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None:
                    await client.ping()  # raises when Redis is gone, so we reconnect
                    continue
                self._on_message(message.get("data"))
        finally:
            self.connected = False
            await client.aclose()

    def _on_message(self, data: object) -> None:
        try:
            payload = json.loads(data) if isinstance(data, str) else None
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return
        if payload.get("type") == "heartbeat":
            self.feed.alive()
        elif isinstance(payload.get("id"), str):
            self._apply(payload["id"], payload)

    def _apply(self, event_id: str, fields: dict[str, Any]) -> None:
        try:
            if self.last_id is not None and _stream_id(event_id) <= _stream_id(self.last_id):
                return
        except ValueError:
            return
        self.last_id = event_id
        event = decode_event(fields)
        if event is not None:
            self.feed.apply(event)
