"""Revocation events over Redis: pub/sub for speed, a stream for catch-up (scale-out).

Each event is appended to a Redis stream (bounded, approximate ``MAXLEN``) and then
published on a channel with its stream id; heartbeats go on the same channel so that an
idle but healthy feed stays provably fresh. Subscribers in this process get every event
directly as well (the same contract as :class:`~tessera.events.bus.InProcessBus`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Final

import redis.asyncio as aioredis
import structlog

from tessera.events.bus import InProcessBus, RevocationEvent

__all__ = ["CHANNEL", "STREAM", "RedisEventBus", "decode_event", "encode_event"]

STREAM: Final = "tessera:revocations"
CHANNEL: Final = "tessera:revocations"
_log = structlog.get_logger("tessera.events")


def encode_event(event: RevocationEvent) -> dict[str, str]:
    return {
        "type": "revocation",
        "kind": event.kind,
        "tenant": event.tenant_id,
        "value": event.value,
        "exp": repr(float(event.expires_at)),
        "at": repr(float(event.issued_at)),
    }


def decode_event(fields: dict[str, Any]) -> RevocationEvent | None:
    """The event in ``fields``, or None for anything malformed (logged, never raised)."""
    try:
        kind = fields["kind"]
        if kind not in ("jti", "family"):
            return None
        return RevocationEvent(
            kind,
            str(fields["tenant"]),
            str(fields["value"]),
            float(fields["exp"]),
            issued_at=float(fields["at"]),
        )
    except (KeyError, TypeError, ValueError):
        _log.warning("malformed revocation event ignored")
        return None


class RedisEventBus:
    """Implements :class:`~tessera.events.bus.EventBus` on Redis."""

    def __init__(
        self,
        url: str,
        *,
        stream: str = STREAM,
        channel: str = CHANNEL,
        maxlen: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = aioredis.from_url(url, decode_responses=True)
        self.stream = stream
        self.channel = channel
        self.maxlen = maxlen
        self._clock = clock
        self._local = InProcessBus()

    async def publish(self, event: RevocationEvent) -> None:
        """This process's subscribers first (they need no network), then Redis."""
        await self._local.publish(event)
        fields = encode_event(event)
        event_id = await self._redis.xadd(
            self.stream,
            fields,  # type: ignore[arg-type]
            maxlen=self.maxlen,
            approximate=True,
        )
        await self._redis.publish(self.channel, json.dumps({"id": event_id, **fields}))

    async def heartbeat(self) -> None:
        """Tell subscribers the feed is alive (they fail closed after a silence)."""
        await self._redis.publish(
            self.channel, json.dumps({"type": "heartbeat", "at": self._clock()})
        )

    def subscribe(self, subscriber: Callable[[RevocationEvent], None]) -> Callable[[], None]:
        return self._local.subscribe(subscriber)

    async def close(self) -> None:
        await self._redis.aclose()
