"""``/api/{upstream}/{path}``: the proxy to allowlisted APIs, with the session's access token.

Steps: the upstream is in the allowlist (else 404) → the path is plain (no dot segments,
no encoded slashes or dots, no backslashes: SECURITY.md §10) → a live session (else 401)
→ the state-change rules for non-GET → an access token fresh enough (refreshed ahead of
expiry, once per session) → the request goes out with only allowlisted headers and
``Authorization: Bearer``; the answer streams back chunk by chunk, never buffered whole,
without the upstream's cookies.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tessera.bff.guards import Refused, check_state_change, cors_headers
from tessera.bff.sessions import BffSession
from tessera.bff.state import BffState

__all__ = ["proxy_endpoint"]

_FORWARD_REQUEST: Final = (
    "accept", "accept-language", "content-type", "if-match", "if-none-match",
    "if-modified-since", "range",
)  # fmt: skip
_FORWARD_RESPONSE: Final = (
    "content-type", "content-length", "content-encoding", "cache-control", "etag",
    "last-modified", "content-range", "accept-ranges",
)  # fmt: skip
_BAD_PATH: Final = re.compile(r"(^|/)\.\.?(/|$)|%2e|%2f|%5c|\\|//", re.IGNORECASE)


def _upstream_url(state: BffState, request: Request) -> str:
    name = request.path_params["upstream"]
    base = state.settings.upstreams.get(name)
    if base is None:
        raise Refused(404, "unknown_upstream")
    raw = request.scope.get("raw_path", b"").decode("latin-1")
    prefix = f"/api/{name}"
    if not raw.startswith(prefix):
        raise Refused(400, "invalid_path")
    rest = raw[len(prefix) :].split("?", 1)[0]
    if rest and not rest.startswith("/"):
        raise Refused(404, "unknown_upstream")
    if _BAD_PATH.search(rest):
        raise Refused(400, "invalid_path")
    if "access_token" in request.query_params:
        raise Refused(400, "invalid_request")  # RFC 6750 §2.3: never a token in a URL
    url = base.rstrip("/") + (rest or "/")
    if urlsplit(url).netloc != urlsplit(base).netloc:
        raise Refused(400, "invalid_path")
    query = request.url.query
    return f"{url}?{query}" if query else url


async def _fresh_session(state: BffState, request: Request) -> BffSession:
    session = await state.sessions.current(request)
    check_state_change(
        request, state.settings, state.keys, session.session_hash if session else None
    )
    if session is None:
        raise Refused(401, "login_required")
    fresh = await state.sessions.fresh(session)
    if fresh is None:
        raise Refused(401, "login_required")
    return fresh


async def proxy_endpoint(request: Request) -> Response:
    state: BffState = request.app.state.bff
    try:
        url = _upstream_url(state, request)
        fresh = await _fresh_session(state, request)
    except Refused as exc:
        return state.error(request, exc.status, exc.error)
    headers = {k: v for k in _FORWARD_REQUEST if (v := request.headers.get(k)) is not None}
    headers["authorization"] = f"Bearer {fresh.tokens.access_token}"
    body = request.stream() if request.method not in ("GET", "HEAD") else None
    upstream = state.http.build_request(request.method, url, headers=headers, content=body)
    try:
        answer = await state.http.send(upstream, stream=True)
    except httpx.HTTPError:
        return state.error(request, 502, "upstream_unavailable")
    out = {k: v for k in _FORWARD_RESPONSE if (v := answer.headers.get(k)) is not None}
    out.update(cors_headers(request, state.settings))
    return StreamingResponse(
        answer.aiter_raw(),
        status_code=answer.status_code,
        headers=out,
        background=BackgroundTask(answer.aclose),
    )
