"""Issuer discovery (OpenID Connect Discovery 1.0 §4, RFC 8414 §3).

The metadata's ``issuer`` must equal the configured issuer EXACTLY (RFC 8414 §3.3: this is
what stops a mix-up between issuers); its ``jwks_uri`` is then pinned. Nothing is ever taken
from a token.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from tessera.errors import ConfigurationError, FetchError
from tessera.verify.fetch import FetchPolicy, check_fetch_url, fetch_json

__all__ = ["discover", "metadata_urls"]


def metadata_urls(issuer: str) -> list[str]:
    """OIDC's ``{issuer}/.well-known/openid-configuration`` first, then RFC 8414's
    ``{origin}/.well-known/oauth-authorization-server{path}``."""
    parts = urlsplit(issuer)
    oidc = issuer.rstrip("/") + "/.well-known/openid-configuration"
    path = parts.path.rstrip("/")
    rfc8414 = urlunsplit(
        (parts.scheme, parts.netloc, "/.well-known/oauth-authorization-server" + path, "", "")
    )
    return [oidc, rfc8414]


async def discover(
    issuer: str, http: httpx.AsyncClient, policy: FetchPolicy | None = None
) -> dict[str, Any]:
    """Fetch and check the issuer's metadata; raises FetchError / ConfigurationError."""
    policy = policy or FetchPolicy()
    check_fetch_url(issuer, policy)
    last: FetchError | None = None
    for url in metadata_urls(issuer):
        try:
            fetched = await fetch_json(http, url, policy)
        except FetchError as exc:
            last = exc
            continue
        metadata = fetched.body
        if not isinstance(metadata, dict):
            raise FetchError("issuer metadata is not a JSON object")
        if metadata.get("issuer") != issuer:
            raise ConfigurationError("issuer metadata names another issuer (RFC 8414 §3.3)")
        jwks_uri = metadata.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise ConfigurationError("issuer metadata has no jwks_uri")
        check_fetch_url(jwks_uri, policy)
        return metadata
    raise last if last is not None else FetchError("issuer metadata not found")
