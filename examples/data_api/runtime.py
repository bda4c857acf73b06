"""What the app holds while it runs (built by the lifespan, read by the handlers)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, Request

from examples.data_api.settings import Settings
from examples.data_api.store import Store
from tessera.authz import MembershipCache
from tessera.verify import RevocationFeed

__all__ = ["RUNTIME_STATE", "Runtime", "runtime_of"]

RUNTIME_STATE = "data_api_runtime"


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    store: Store
    memberships: MembershipCache
    revocations: RevocationFeed | None

    def feed_health(self) -> dict[str, object]:
        if self.revocations is None:
            return {"revocation_feed": "off"}
        fresh = self.revocations.health()["fresh"]
        return {"revocation_feed": "fresh" if fresh else "stale"}


def runtime_of(request: Request) -> Runtime:
    runtime = getattr(request.app.state, RUNTIME_STATE, None)
    if not isinstance(runtime, Runtime):
        # Only between start and the end of the lifespan's start-up.
        raise HTTPException(503, {"error": "temporarily_unavailable"})
    return runtime
