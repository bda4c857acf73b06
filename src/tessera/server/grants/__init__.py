"""The grants of the token endpoint, one module each (node-oidc-provider's layout).

There is no implicit and no password grant (OAuth 2.1 §10, RFC 9700 §2.4).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from starlette.responses import Response

from tessera.server.context import ServerContext
from tessera.server.grants.authorization_code import authorization_code_grant
from tessera.server.grants.client_credentials import client_credentials
from tessera.server.grants.refresh import refresh_token_grant
from tessera.server.grants.scopes import Form
from tessera.storage.records import Client

__all__ = ["GRANTS", "PUBLIC_CLIENT_GRANTS", "Grant"]

Grant = Callable[[ServerContext, str, Client, Form, float], Awaitable[Response]]
GRANTS: Final[dict[str, Grant]] = {
    "authorization_code": authorization_code_grant,
    "refresh_token": refresh_token_grant,
    "client_credentials": client_credentials,
}
# A public client proves nothing by itself; PKCE and refresh-token binding protect these two.
PUBLIC_CLIENT_GRANTS: Final = frozenset({"authorization_code", "refresh_token"})
