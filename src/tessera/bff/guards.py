"""The BFF's browser-facing rules: cookies, same-origin, CSRF, content types, CORS.

- Cookies (RFC 6265bis §4.1.3.2): ``__Host-`` names, ``Secure; HttpOnly; Path=/``, no
  ``Domain``. The raw ``Cookie`` header is read by hand: a name that appears twice (a
  sibling domain's planted copy) counts as absent, and an unprefixed look-alike is never read.
- Every state-changing request (not GET/HEAD/OPTIONS) needs an ``Origin`` that is ours or a
  configured CORS origin — absent, ``null``, a sibling or another site is 403 — and the
  session's CSRF token in ``X-CSRF-Token`` (an HMAC of the session, compared in constant
  time). Method-override headers are refused, and bodies a cross-site form could send
  without a preflight (``text/plain``, form encodings) are 415.
- CORS is closed unless origins are configured; a listed origin is echoed exactly, nothing
  else ever is.
"""

from __future__ import annotations

from typing import Final

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from tessera.bff.config import BffSettings
from tessera.jose.b64 import b64url_encode
from tessera.secret import constant_time_equals
from tessera.server.server_keys import ServerKeys

__all__ = [
    "LOGIN_COOKIE",
    "SAFE_METHODS",
    "SESSION_COOKIE",
    "Refused",
    "check_state_change",
    "cors_headers",
    "csrf_token",
    "read_cookie",
    "set_cookie",
]

SESSION_COOKIE: Final = "__Host-tessera-bff"
LOGIN_COOKIE: Final = "__Host-tessera-bff-login"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_OVERRIDES: Final = ("x-http-method-override", "x-http-method", "x-method-override")
_SIMPLE_BODIES: Final = frozenset(
    {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)


class Refused(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


def read_cookie(headers: Headers, name: str) -> str | None:
    """The cookie's value if it appears exactly once; duplicates count as absent."""
    values = []
    for header in headers.getlist("cookie"):
        for part in header.split(";"):
            key, sep, value = part.strip().partition("=")
            if sep and key == name:
                values.append(value)
    if len(values) != 1 or not values[0] or len(values[0]) > 256:
        return None
    return values[0]


def set_cookie(
    response: Response, settings: BffSettings, name: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=True,  # __Host- requires it; browsers honour it on loopback http too
        httponly=True,
        samesite=settings.same_site if name == SESSION_COOKIE else "lax",
    )


def csrf_token(keys: ServerKeys, session_hash: bytes) -> str:
    return b64url_encode(keys.csrf_mac("bff", session_hash.hex()))


def check_state_change(
    request: Request, settings: BffSettings, keys: ServerKeys, session_hash: bytes | None
) -> None:
    """SECURITY.md §10: origin, method override, body type, CSRF token — in that order."""
    if request.method in SAFE_METHODS:
        return
    if any(name in request.headers for name in _OVERRIDES) or "_method" in request.query_params:
        raise Refused(400, "method_override_refused")
    origin = request.headers.get("origin")
    if origin is None or (origin != settings.origin and origin not in settings.cors_origins):
        raise Refused(403, "origin_refused")
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype in _SIMPLE_BODIES:
        raise Refused(415, "unsupported_media_type")
    sent = request.headers.get("x-csrf-token", "")
    if session_hash is None or not constant_time_equals(sent, csrf_token(keys, session_hash)):
        raise Refused(403, "csrf_token_invalid")


def cors_headers(request: Request, settings: BffSettings) -> dict[str, str]:
    """Only a configured origin is echoed, with credentials; otherwise nothing."""
    origin = request.headers.get("origin")
    if origin is None or origin not in settings.cors_origins:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }
