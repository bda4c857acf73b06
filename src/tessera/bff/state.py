"""Everything a BFF request handler needs, built once per process by the app's lifespan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
from starlette.requests import Request
from starlette.responses import Response

from tessera.bff.config import BffSettings
from tessera.bff.guards import cors_headers
from tessera.bff.oauth import OAuthClient
from tessera.bff.session_manager import Sessions
from tessera.server.responses import json_response
from tessera.server.server_keys import ServerKeys

__all__ = ["BffState"]


@dataclass(frozen=True, slots=True)
class BffState:
    settings: BffSettings
    sessions: Sessions
    oauth: OAuthClient
    http: httpx.AsyncClient
    keys: ServerKeys
    clock: Callable[[], float]

    def error(self, request: Request, status: int, error: str) -> Response:
        """JSON, never cached; CORS headers only for a configured origin."""
        return json_response({"error": error}, status, cors_headers(request, self.settings))
