"""Response helpers: OAuth JSON with ``Cache-Control: no-store``, RFC 6749 §5.2 errors."""

from __future__ import annotations

from typing import Any, Final

import orjson
from starlette.responses import Response

from tessera.errors import InvalidClient, ProtocolError

__all__ = ["NO_STORE", "error_response", "json_response"]

# RFC 6749 §5.1: token responses (and errors) must not be cached.
NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def json_response(
    body: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
    *,
    max_age: int | None = None,
) -> Response:
    """JSON, ``no-store`` by default; ``max_age`` makes a public, cacheable document."""
    caching = NO_STORE if max_age is None else {"Cache-Control": f"public, max-age={max_age}"}
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={**caching, **(headers or {})},
    )


def error_response(exc: ProtocolError, *, basic_challenge: bool = False) -> Response:
    """The RFC 6749 §5.2 error body; 401 ``invalid_client`` carries a challenge (§5.2)."""
    headers: dict[str, str] = {}
    if isinstance(exc, InvalidClient) and basic_challenge:
        headers["WWW-Authenticate"] = 'Basic realm="tessera", charset="UTF-8"'
    return json_response({"error": exc.code, "error_description": exc.message}, exc.status, headers)
