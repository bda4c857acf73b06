"""The event bus the server publishes revocations to.

Embedded deployments use :class:`InProcessBus`; the Redis bus (pub/sub plus a stream for
catch-up) implements the same :class:`EventBus` protocol for scale-out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import structlog

__all__ = ["EventBus", "InProcessBus", "RevocationEvent"]

_log = structlog.get_logger("tessera.events")


@dataclass(frozen=True, slots=True)
class RevocationEvent:
    """A ``jti`` (or a whole refresh family) revoked until ``expires_at``."""

    kind: Literal["jti", "family"]
    tenant_id: str
    value: str
    expires_at: float
    issued_at: float


Subscriber = Callable[[RevocationEvent], None]


class EventBus(Protocol):
    async def publish(self, event: RevocationEvent) -> None: ...
    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]: ...


class InProcessBus:
    """Delivers each event synchronously to every subscriber of this process."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    async def publish(self, event: RevocationEvent) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:  # noqa: BLE001 - one failing subscriber must not stop the others
                _log.exception("event subscriber failed", kind=event.kind)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)
