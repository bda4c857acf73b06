"""FastAPI dependencies over :class:`~tessera.verify.middleware.BearerAuthMiddleware`.

``require_token()`` hands the verified :class:`Claims` to a handler; ``require_scopes("a",
"b")`` also demands those scopes, answering 403 ``insufficient_scope`` with the needed scope
named in the challenge (RFC 6750 §3.1). Needs ``fastapi``.
"""

# No `from __future__ import annotations` here: FastAPI reads these annotations at runtime,
# and the dependency inside `Annotated[...]` refers to a closure variable.
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from tessera.jose.claims import Claims
from tessera.verify.middleware import CLAIMS_KEY

__all__ = ["insufficient_scope", "require_scopes", "require_token"]


def require_token(realm: str = "tessera") -> Callable[[Request], Claims]:
    """A dependency returning the request's verified claims (401 when there are none)."""

    def dependency(request: Request) -> Claims:
        claims = request.scope.get("state", {}).get(CLAIMS_KEY)
        if not isinstance(claims, Claims):
            # The middleware is missing or this path is public: nothing was verified.
            raise HTTPException(
                status_code=401,
                detail={"error": "invalid_token", "error_description": "no verified token"},
                headers={"WWW-Authenticate": f'Bearer realm="{realm}", error="invalid_token"'},
            )
        return claims

    return dependency


def require_scopes(*scopes: str, realm: str = "tessera") -> Callable[..., Claims]:
    """A dependency demanding every scope in ``scopes`` (least privilege per endpoint)."""
    needed = frozenset(scopes)
    if not needed or any(not s or " " in s or '"' in s for s in needed):
        raise ValueError("scopes must be non-empty scope tokens")
    named = " ".join(sorted(needed))

    def dependency(claims: Annotated[Claims, Depends(require_token(realm))]) -> Claims:
        if not needed <= claims.scope:
            raise insufficient_scope(named, realm)
        return claims

    return dependency


def insufficient_scope(scopes: str, realm: str) -> HTTPException:
    """RFC 6750 §3.1: 403 ``insufficient_scope``, naming in ``scope`` what would be enough.

    ``scopes`` is space-separated scope tokens (no quotes: RFC 6749 §3.3), ``realm`` a quote-free
    string, so both go into the challenge as they are.
    """
    return HTTPException(
        status_code=403,
        detail={"error": "insufficient_scope", "scope": scopes},
        headers={
            "WWW-Authenticate": (
                f'Bearer realm="{realm}", error="insufficient_scope", scope="{scopes}"'
            )
        },
    )
