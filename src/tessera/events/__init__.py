"""Revocation and audit events: an in-process bus now, Redis for scale-out later."""

from tessera.events.bus import EventBus, InProcessBus, RevocationEvent

__all__ = ["EventBus", "InProcessBus", "RevocationEvent"]
