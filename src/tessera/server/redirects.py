"""Redirect URIs: what a client may register, and the exact match at ``/authorize``.

Registration (RFC 9700 §4.1.1, RFC 8252 §7, OAuth 2.1 §2.3.1) accepts:

- ``https`` URIs;
- ``http`` only on a loopback IP literal (``127.0.0.1`` or ``[::1]``; RFC 8252 §8.3 advises
  against ``localhost``, which DNS or a hosts file may point elsewhere);
- private-use schemes in reverse-domain form (``com.example.app:/callback``, RFC 8252 §7.1).

Refused everywhere: fragments (RFC 6749 §3.1.2), userinfo, wildcards, dot segments,
non-ASCII (register the punycode form), and every other scheme (``javascript:``, ``data:``…).

Matching is simple string comparison with the registered value (RFC 9700 §4.1.3): no case
folding, no normalization, no trailing-slash or prefix leniency. The one exception is
RFC 8252 §7.3: for a registered loopback ``http`` URI, the port may differ.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

__all__ = ["InvalidRedirectUri", "check_registrable", "match_redirect_uri"]

_PRIVATE_SCHEME: Final = re.compile(r"[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+")
_LOOPBACK: Final = re.compile(r"http://(127\.0\.0\.1|\[::1\])(?::(\d{1,5}))?(/[^#]*)?")
_MAX_URI: Final = 2048


class InvalidRedirectUri(ValueError):
    """The URI cannot be registered; the message says which rule."""


def check_registrable(uri: str) -> str:
    """Return ``uri`` if it may be registered, else raise :class:`InvalidRedirectUri`."""
    if not uri or len(uri) > _MAX_URI or not uri.isascii() or not uri.isprintable():
        raise InvalidRedirectUri("redirect URIs are printable ASCII, at most 2048 characters")
    if "#" in uri:
        raise InvalidRedirectUri("redirect URIs must not have a fragment (RFC 6749 §3.1.2)")
    if "*" in uri or " " in uri or "\\" in uri:
        raise InvalidRedirectUri("redirect URIs must not contain wildcards, spaces or '\\'")
    parts = urlsplit(uri)
    if "@" in parts.netloc:
        raise InvalidRedirectUri("redirect URIs must not carry userinfo")
    segments = parts.path.split("/")
    if any(s in (".", "..") for s in segments) or "%2e" in parts.path.lower():
        raise InvalidRedirectUri("redirect URIs must not contain dot segments")
    if parts.scheme == "https":
        if not parts.hostname:
            raise InvalidRedirectUri("an https redirect URI needs a host")
        return uri
    if parts.scheme == "http":
        if not _LOOPBACK.fullmatch(uri):
            raise InvalidRedirectUri(
                "http redirect URIs are allowed only on 127.0.0.1 or [::1] (RFC 8252 §7.3)"
            )
        return uri
    if _PRIVATE_SCHEME.fullmatch(parts.scheme) and not parts.netloc:
        return uri
    raise InvalidRedirectUri(
        "redirect URIs must be https, loopback http, or a reverse-domain private-use scheme"
    )


def _without_port(uri: str) -> str | None:
    match = _LOOPBACK.fullmatch(uri)
    if match is None:
        return None
    port = match.group(2)
    if port is not None and (port.startswith("0") or int(port) > 65535):
        return None
    return f"http://{match.group(1)}{match.group(3) or ''}"


def match_redirect_uri(requested: str, registered: Iterable[str]) -> str | None:
    """The requested URI if it matches a registered one exactly (loopback: any port)."""
    if len(requested) > _MAX_URI:
        return None
    for candidate in registered:
        if requested == candidate:
            return requested
    loose = _without_port(requested)
    if loose is None:
        return None
    for candidate in registered:
        if _without_port(candidate) == loose:
            return requested
    return None
