"""Server-rendered pages (login, consent, logout, errors) and the one stylesheet they link.

Every page carries the same headers; each is there for a reason:

- ``Content-Security-Policy: default-src 'none'; style-src 'self'; img-src 'self';
  frame-ancestors 'none'; base-uri 'none'``: nothing runs (the pages have no JavaScript, so an
  injected ``<script>`` or handler attribute is dead), styles and images come only from this
  origin, no ``<base>`` can redirect relative URLs, and ``frame-ancestors 'none'`` forbids
  framing, the defence against clickjacking a login or consent button (RFC 9700 §4.16).
  There is deliberately no ``form-action``: Chromium applies it to the whole redirect chain after
  a POST, and a successful login ends in a 303 to the client's registered ``redirect_uri`` on
  another origin. ``default-src`` does not cover ``form-action``, so forms stay unrestricted.
- ``X-Frame-Options: DENY``: the same clickjacking defence for browsers without CSP level 2
  (RFC 9700 §4.16).
- ``Referrer-Policy: no-referrer``: a page reached with a ``code`` or ``state`` in its URL, or
  any link or subresource on it, must not leak that URL to another origin in ``Referer``
  (RFC 9700 §4.2.4).
- ``X-Content-Type-Options: nosniff``: the browser keeps our declared type; nothing we serve is
  reinterpreted as script or style.
- ``Cache-Control: no-store``: pages carry CSRF tokens, interaction ids and e-mail addresses;
  no shared or back-button cache keeps them (RFC 9111 §5.2.2.5).
- ``Cross-Origin-Opener-Policy: same-origin``: a cross-origin opener gets no window handle to
  the login page (no ``window.opener`` navigation tricks, no cross-window timing probes).

Templates are rendered with autoescaping and ``StrictUndefined``: every value is untrusted text,
and a variable the caller forgot (or misspelt) raises ``jinja2.UndefinedError`` instead of
rendering empty. The URL-valued variables (``action``, ``assets``) go through the ``url``
filter, which refuses anything but an ``http(s)`` URL or an absolute path: autoescaping keeps a
value inside its attribute but says nothing about a ``javascript:`` scheme.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any, Final
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

__all__ = ["PAGE_HEADERS", "STYLESHEET_MAX_AGE", "Pages"]

PAGE_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}
STYLESHEET_MAX_AGE: Final = 3600
_PROTECTED: Final = frozenset(name.lower() for name in PAGE_HEADERS)


def _url(value: str) -> str:
    """Template filter: an ``http(s)`` URL with a host, or a path from this origin's root."""
    if any(ord(c) < 0x21 or c in "\\\x7f" for c in value):
        raise ValueError("a page URL must not contain spaces, controls or backslashes")
    parts = urlsplit(value)
    if parts.scheme in {"http", "https"} and parts.netloc:
        return value
    if not parts.scheme and not parts.netloc and value.startswith("/"):
        return value
    raise ValueError("a page URL must be an http(s) URL or an absolute path")


class Pages:
    """The template environment, built once per process by the app factory."""

    def __init__(self) -> None:
        self._env = Environment(
            loader=PackageLoader("tessera.server", "templates"),
            autoescape=select_autoescape(["html"], default_for_string=True, default=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["url"] = _url
        self._stylesheet = files("tessera.server").joinpath("templates", "tessera.css").read_bytes()

    def render(
        self,
        template: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """Render ``template`` with ``context`` into a page response with the security headers.

        ``headers`` adds to the page headers (``Retry-After``, say); it may not replace one of
        them, so a caller cannot weaken a page by accident.
        """
        extra = headers or {}
        clash = sorted(name for name in extra if name.lower() in _PROTECTED)
        if clash:
            raise ValueError(f"page security headers cannot be overridden: {', '.join(clash)}")
        body = self._env.get_template(template).render(**context)
        return HTMLResponse(body, status_code=status, headers={**PAGE_HEADERS, **extra})

    async def stylesheet_endpoint(self, request: Request) -> Response:  # noqa: ARG002 - route shape
        """``GET /assets/tessera.css``: the stylesheet, cacheable (it holds nothing private)."""
        return Response(
            self._stylesheet,
            media_type="text/css",
            headers={
                "Cache-Control": f"public, max-age={STYLESHEET_MAX_AGE}",
                "X-Content-Type-Options": "nosniff",
            },
        )
