"""``POST {issuer}/token`` (RFC 6749 §3.2; grants in :mod:`tessera.server.grants`).

Pipeline: known tenant → strict form → client authentication (public clients: ``client_id``
only, for the user grants) → ``grant_type`` known → the client registered for it → the
grant's own check steps. There is no implicit and no password grant (OAuth 2.1 §10).
"""

from __future__ import annotations

from typing import Final

from starlette.responses import Response

from tessera.errors import UnauthorizedClient, UnsupportedGrantType
from tessera.server.client_profile import is_public
from tessera.server.context import ServerContext
from tessera.server.endpoints.common import Form, client_endpoint, required
from tessera.server.grants import GRANTS, PUBLIC_CLIENT_GRANTS
from tessera.storage.records import Client

__all__ = ["token_endpoint"]

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
    if is_public(client) and grant_type not in PUBLIC_CLIENT_GRANTS:
        raise UnauthorizedClient("a public client may not use this grant type")


async def _token(
    ctx: ServerContext, tenant_id: str, client: Client, form: Form, now: float
) -> Response:
    grant_type = check_grant_type(form)
    check_client_may_use_grant(client, grant_type)
    # RFC 6749 §3.2: parameters a grant does not use are ignored, not refused.
    return await GRANTS[grant_type](ctx, tenant_id, client, form, now)


token_endpoint = client_endpoint(_token, allow_public=True)
