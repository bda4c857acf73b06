"""``POST {issuer}/par``: pushed authorization requests (RFC 9126).

Steps: known tenant → strict form → client authentication (public clients by ``client_id``,
§2) → the same checks as ``/authorize`` (here every error is a JSON error: there is no
browser to redirect, §2.3) → store the request → 201 with a one-time ``request_uri``.
"""

from __future__ import annotations

import hashlib
import secrets

from starlette.responses import Response

from tessera.errors import InvalidRequest
from tessera.server.authorization_request import (
    NotRedirectable,
    check_client_and_redirect,
    check_request,
)
from tessera.server.context import ServerContext
from tessera.server.endpoints.authorize import PAR_PREFIX
from tessera.server.endpoints.common import Form, client_endpoint
from tessera.server.responses import json_response
from tessera.storage.records import Client
from tessera.storage.user_records import PendingRequest

__all__ = ["par_endpoint"]


async def _par(
    ctx: ServerContext, tenant_id: str, client: Client, form: Form, now: float
) -> Response:
    params = {k: v for k, v in form.items() if isinstance(v, str)}
    if "request_uri" in params:
        raise InvalidRequest("request_uri must not be pushed (RFC 9126 §2.1)")
    # The authenticated client is the one the request is for (RFC 9126 §2.1).
    params["client_id"] = client.client_id
    try:
        _, redirect_uri = await check_client_and_redirect(ctx.directory, tenant_id, params)
    except NotRedirectable as exc:
        raise exc.error from None
    authz = check_request(
        client, redirect_uri, params, userinfo=f"{ctx.issuer(tenant_id)}/userinfo"
    )
    request_uri = PAR_PREFIX + secrets.token_urlsafe(32)
    await ctx.store.add_request(
        PendingRequest(
            request_hash=hashlib.sha256(request_uri.encode("utf-8")).digest(),
            tenant_id=tenant_id,
            client_id=client.client_id,
            kind="par",
            params=authz.to_params(),
            created_at=now,
            expires_at=now + ctx.settings.par_ttl,
        )
    )
    return json_response({"request_uri": request_uri, "expires_in": ctx.settings.par_ttl}, 201)


par_endpoint = client_endpoint(_par, allow_public=True)
