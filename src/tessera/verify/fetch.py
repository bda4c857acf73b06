"""Fetching issuer metadata and JWKS safely: the only network reads a verifier makes.

Rules (RFC 8414 §3, RFC 8725 §3.10, SECURITY.md §5):

- https only; http only when the host is loopback (development);
- a timeout and a size cap on every response (the body is streamed and cut off);
- redirects are followed only to the same scheme, host and port, at most 3;
- URLs come from configuration or from the pinned issuer's metadata, never from a token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import httpx

from tessera.errors import ConfigurationError, FetchError
from tessera.hosts import is_loopback_host

__all__ = ["FetchPolicy", "Fetched", "check_fetch_url", "fetch_json"]

_MAX_REDIRECTS: Final = 3


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    timeout: float = 5.0
    max_bytes: int = 512 * 1024
    allow_http_loopback: bool = True


@dataclass(frozen=True, slots=True)
class Fetched:
    body: Any
    headers: httpx.Headers


def check_fetch_url(url: str, policy: FetchPolicy) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and policy.allow_http_loopback and is_loopback_host(parts.hostname):
        return
    raise ConfigurationError("fetch URLs must be https (http only for loopback hosts)")


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


def _next_url(url: str, response: httpx.Response, hops: int) -> str:
    location: str | None = response.headers.get("location")
    if not location or hops >= _MAX_REDIRECTS:
        raise FetchError("too many or malformed redirects")
    target: str = urljoin(url, location)
    if not _same_origin(url, target):
        raise FetchError("redirect to another origin refused")
    return target


def _decode(raw: bytes, response: httpx.Response) -> Fetched:
    if response.status_code != 200:
        raise FetchError(f"fetch answered HTTP {response.status_code}")
    try:
        return Fetched(json.loads(raw), response.headers)
    except (ValueError, RecursionError):
        raise FetchError("response is not JSON") from None


async def fetch_json(client: httpx.AsyncClient, url: str, policy: FetchPolicy) -> Fetched:
    """GET ``url`` under the rules above; raises :class:`FetchError`."""
    check_fetch_url(url, policy)
    for hops in range(_MAX_REDIRECTS + 1):
        try:
            async with client.stream(
                "GET",
                url,
                timeout=policy.timeout,
                follow_redirects=False,
                headers={"Accept": "application/json"},
            ) as response:
                if response.is_redirect:
                    url = _next_url(url, response, hops)
                    continue
                raw = b""
                async for chunk in response.aiter_bytes():
                    raw += chunk
                    if len(raw) > policy.max_bytes:
                        raise FetchError("response exceeds the size cap")
                return _decode(raw, response)
        except httpx.HTTPError as exc:
            raise FetchError(f"fetch failed: {type(exc).__name__}") from None
    raise FetchError("too many redirects")  # pragma: no cover - loop raises first
