"""``POST {issuer}/token`` (RFC 6749 §3.2, §4.4; RFC 8707; RFC 9068).

Pipeline: known tenant → strict form → client authentication → the steps below, each one
rule. Grants are dispatched by ``grant_type``; there is no implicit and no password grant
(OAuth 2.1 §10, RFC 9700 §2.4).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import urlsplit

from starlette.responses import Response

from tessera.errors import (
    InvalidScope,
    InvalidTarget,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from tessera.keys.schedule import MAX_ACCESS_TOKEN_TTL, MIN_ACCESS_TOKEN_TTL
from tessera.server.context import ServerContext
from tessera.server.endpoints.common import Form, client_endpoint, required
from tessera.server.issuance import client_subject
from tessera.server.responses import json_response
from tessera.storage.records import Client

__all__ = ["token_endpoint"]

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN: Final = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")
_REFUSED_GRANTS: Final = frozenset({"password", "implicit"})


def check_grant_type(form: Form) -> str:
    """RFC 6749 §5.2: ``grant_type`` is required and must be one we implement."""
    grant_type = required(form, "grant_type")
    if grant_type not in GRANTS:
        if grant_type in _REFUSED_GRANTS:
            raise UnsupportedGrantType("this grant type is not allowed (OAuth 2.1)")
        raise UnsupportedGrantType("unsupported grant_type")
    return grant_type


def check_client_may_use_grant(client: Client, grant_type: str) -> None:
    """RFC 6749 §5.2 ``unauthorized_client``: the client registered for this grant."""
    if grant_type not in client.grant_types:
        raise UnauthorizedClient("this client may not use this grant type")


def resolve_audience(form: Form, client: Client) -> str:
    """RFC 8707 §2: ``resource`` picks the audience among the client's allowed ones.

    One resource per request (several would mint a token good at several APIs); an
    absolute URI without a fragment; absent → the client's default (its first audience).
    """
    resources = form.get("resource") or []
    assert isinstance(resources, list)  # noqa: S101 - `resource` is repeatable in read_form
    if not resources:
        if not client.audiences:
            raise InvalidTarget("this client has no audience configured")
        return client.audiences[0]
    if len(resources) > 1:
        raise InvalidTarget("request one resource per token")
    resource = resources[0]
    parts = urlsplit(resource)
    if not parts.scheme or parts.fragment or "#" in resource:
        raise InvalidTarget("resource must be an absolute URI without a fragment")
    if resource not in client.audiences:
        raise InvalidTarget("this client may not obtain tokens for that resource")
    return resource


def resolve_scope(form: Form, client: Client) -> str:
    """RFC 6749 §3.3: requested scopes must be a subset of the client's; absent → all."""
    requested = form.get("scope")
    if requested is None:
        return " ".join(sorted(client.scopes))
    assert isinstance(requested, str)  # noqa: S101 - `scope` is not repeatable
    tokens = requested.split(" ")
    if any(not _SCOPE_TOKEN.fullmatch(t) for t in tokens):
        raise InvalidScope("scope is malformed")
    wanted = frozenset(tokens)
    if not wanted <= client.scopes:
        raise InvalidScope("the requested scope exceeds what this client may have")
    return " ".join(sorted(wanted))


def access_token_ttl(client: Client, default: int) -> int:
    """A client's own lifetime only within DESIGN.md's 1–15 min; otherwise the default."""
    own = client.access_token_ttl
    if own is not None and MIN_ACCESS_TOKEN_TTL <= own <= MAX_ACCESS_TOKEN_TTL:
        return own
    return default


async def client_credentials(
    ctx: ServerContext, tenant_id: str, client: Client, form: Form, now: float
) -> Response:
    """RFC 6749 §4.4: a token for the client itself; no refresh token (§4.4.3)."""
    audience = resolve_audience(form, client)
    scope = resolve_scope(form, client)
    ttl = access_token_ttl(client, ctx.settings.access_token_ttl_m2m)
    issued = await ctx.tokens.issue(
        issuer=ctx.issuer(tenant_id),
        tenant_id=tenant_id,
        client=client,
        subject=client_subject(client.client_id),
        audience=audience,
        scope=scope,
        ttl=ttl,
        now=now,
    )
    ctx.audit.emit(
        "token.issued",
        tenant_id=tenant_id,
        client_id=client.client_id,
        iss=ctx.issuer(tenant_id),
        aud=audience,
        scope=scope,
        jti=issued.jti,
        kid=issued.kid,
        grant_type="client_credentials",
        token_format=issued.token_format,
    )
    body = {
        "access_token": issued.value,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": scope,
    }
    return json_response(body)


Grant = Callable[[ServerContext, str, Client, Form, float], Awaitable[Response]]
GRANTS: Final[dict[str, Grant]] = {"client_credentials": client_credentials}


async def _token(
    ctx: ServerContext, tenant_id: str, client: Client, form: Form, now: float
) -> Response:
    grant_type = check_grant_type(form)
    check_client_may_use_grant(client, grant_type)
    # RFC 6749 §3.2: parameters a grant does not use are ignored, not refused.
    return await GRANTS[grant_type](ctx, tenant_id, client, form, now)


token_endpoint = client_endpoint(_token)
