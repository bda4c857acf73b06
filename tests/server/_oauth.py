"""Shared assertions and request builders for the server's feature and hostile-input tests."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any
from urllib.parse import quote_plus

import httpx
from harness import PUBLIC_URL, Harness

from tessera.jose.unverified import peek_unverified_claims, peek_unverified_header
from tessera.logging import redact_text
from tessera.server.app import build_app
from tessera.verify import Verifier

# RFC 6749 §5.2, RFC 8707 §2, RFC 7009 §2.2.1: every error code the server may send.
RFC_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "invalid_target",
        "unsupported_token_type",
    }
)
FORM = "application/x-www-form-urlencoded"


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    """An RFC 6749 §5.2 error: exact status and code, JSON, never cached."""
    assert response.status_code == status, (response.status_code, redact_text(response.text))
    assert response.headers.get("cache-control") == "no-store", response.headers
    assert response.headers.get("content-type", "").startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body.get("error") == error, body
    assert set(body) <= {"error", "error_description", "error_uri"}, body
    return body


def assert_all(results: list[tuple[object, httpx.Response]], status: int, error: str) -> None:
    """``assert_oauth_error`` for every case; reports every case that fails, not the first."""
    assert_each([(case, response, status, error) for case, response in results])


def assert_each(expectations: list[tuple[object, httpx.Response, int, str]]) -> None:
    problems = []
    for case, response, status, error in expectations:
        try:
            assert_oauth_error(response, status, error)
        except AssertionError as exc:
            problems.append(f"{case!r}: {exc}")
    assert not problems, "\n".join(problems)


def lenient_http(server: Harness) -> httpx.AsyncClient:
    """A client on the same context whose app errors come back as 500s instead of raising."""
    transport = httpx.ASGITransport(
        app=build_app(server.ctx, background=False), raise_app_exceptions=False
    )
    return httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL)


def basic(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: id and secret are form-urlencoded, then joined and base64-encoded."""
    pair = f"{quote_plus(client_id, safe='')}:{quote_plus(secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def raw_basic(payload: bytes) -> str:
    return "Basic " + base64.b64encode(payload).decode()


async def set_client(server: Harness, client_id: str, tenant: str = "default", **changes: Any):
    """Change a registered client's record (fields the harness does not expose)."""
    client = await server.ctx.store.get_client(tenant, client_id)
    assert client is not None
    await server.ctx.store.replace_client(dataclasses.replace(client, **changes))
    server.ctx.directory.invalidate()


async def verified_claims(
    server: Harness, token: str, audience: str, tenant: str = "default"
) -> dict[str, Any]:
    """Verify ``token`` as a resource server would (published JWKS), then return its claims."""
    jwks = (await server.http.get(f"/t/{tenant}/jwks.json")).json()
    verifier = Verifier(
        issuer=server.ctx.issuer(tenant), audience=audience, algorithms=["ES256"], keys=jwks
    )
    verifier.verify(token, now=server.clock.now)
    return peek_unverified_claims(token)


def header_of(token: str) -> dict[str, Any]:
    return peek_unverified_header(token)


async def active_kid(server: Harness, tenant: str = "default") -> str:
    snapshot = await server.ctx.keys.keys_for(tenant, server.clock.now)
    return snapshot.signer(server.clock.now).kid
