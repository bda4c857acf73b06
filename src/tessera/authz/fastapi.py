"""``authorize(action, resource)``: the FastAPI dependency that runs an :class:`Authorizer`.

::

    app.state.tessera_authorizer = Authorizer(scope_map=..., memberships=..., policies=...)

    def dataset(request: Request) -> Resource:
        principal = request.state.tessera_principal      # verified by now
        return Resource("Dataset", request.path_params["name"], principal.verified_tenant)

    @app.get("/datasets/{name}/export")
    async def export(principal: Annotated[Principal, Depends(authorize("data.export", dataset))]):
        ...

The claims come from :class:`~tessera.verify.middleware.BearerAuthMiddleware` (401 when there
are none, as :func:`tessera.verify.fastapi.require_token`). Membership and scopes are checked
first; only then is the resource (and the context) built, so the application's lookups run
for confirmed members only, and the policies decide. Refusals are 403 with a fixed body that
echoes no claim: ``insufficient_scope`` naming the scopes that would grant the action (RFC 6750
§3.1), or ``access_denied`` with reason ``not_a_member`` or ``policy_denied``. Needs ``fastapi``.
"""

# No `from __future__ import annotations` here: FastAPI reads these annotations at runtime,
# and the dependency inside `Annotated[...]` refers to a closure variable.
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Final, TypeVar

from fastapi import Depends, HTTPException, Request

from tessera.authz.guard import Authorizer
from tessera.authz.policy import Resource
from tessera.authz.principal import Principal
from tessera.errors import ActionNotAllowed, ConfigurationError, NotAMember, PolicyDenied
from tessera.jose.claims import Claims
from tessera.verify.fastapi import insufficient_scope, require_token

__all__ = ["AUTHORIZER_STATE", "PRINCIPAL_STATE", "authorize"]

AUTHORIZER_STATE: Final = "tessera_authorizer"  # app.state attribute holding the Authorizer
PRINCIPAL_STATE: Final = "tessera_principal"  # request.state: the verified Principal

_T = TypeVar("_T")
ResourceSource = Resource | Callable[[Request], Resource | Awaitable[Resource]]
ContextSource = Callable[[Request], Mapping[str, object] | Awaitable[Mapping[str, object]]]


def authorize(
    action: str,
    resource: ResourceSource | None = None,
    *,
    context: ContextSource | None = None,
    authorizer: Authorizer | None = None,
    realm: str = "tessera",
) -> Callable[..., Awaitable[Principal]]:
    """A dependency returning the verified :class:`Principal` allowed to do ``action``.

    ``resource`` is a :class:`Resource`, or a function of the request returning one (sync or
    async; ``request.state.tessera_principal`` holds the verified principal when it runs).
    ``context`` likewise gives the Cedar context; it needs a resource, since without one no
    policy is evaluated. The :class:`Authorizer` is ``authorizer``, or else
    ``app.state.tessera_authorizer``.
    """
    if not isinstance(action, str) or not action or any(c.isspace() for c in action):
        raise ConfigurationError("an action is a non-empty name without spaces")
    if context is not None and resource is None:
        raise ConfigurationError("a policy context needs a resource to evaluate against")
    realm = realm.replace('"', "")

    async def dependency(
        request: Request, claims: Annotated[Claims, Depends(require_token(realm))]
    ) -> Principal:
        guard = authorizer if authorizer is not None else _app_authorizer(request)
        try:
            principal = await guard.authorize(claims, action)
            if resource is not None:
                setattr(request.state, PRINCIPAL_STATE, principal)
                target = (
                    resource if isinstance(resource, Resource) else await _call(resource, request)
                )
                if not isinstance(target, Resource):
                    raise ConfigurationError("the resource function must return a Resource")
                values = await _call(context, request) if context is not None else None
                guard.check_policies(principal, action, target, values)
        except PolicyDenied:
            raise _denied("policy_denied") from None
        except NotAMember:
            raise _denied("not_a_member") from None
        except ActionNotAllowed:
            raise _insufficient_scope(guard, action, realm) from None
        return principal

    return dependency


def _app_authorizer(request: Request) -> Authorizer:
    guard = getattr(request.app.state, AUTHORIZER_STATE, None)
    if not isinstance(guard, Authorizer):
        raise ConfigurationError(
            f"no Authorizer: pass authorizer= or set app.state.{AUTHORIZER_STATE}"
        )
    return guard


async def _call(function: Callable[[Request], _T | Awaitable[_T]], request: Request) -> _T:
    value = function(request)
    if inspect.isawaitable(value):
        return await value
    return value


def _denied(reason: str) -> HTTPException:
    return HTTPException(status_code=403, detail={"error": "access_denied", "reason": reason})


def _insufficient_scope(guard: Authorizer, action: str, realm: str) -> HTTPException:
    """RFC 6750 §3.1: 403 ``insufficient_scope``, naming the scopes that grant ``action``."""
    return insufficient_scope(" ".join(sorted(guard.scope_map.scopes_for(action))), realm)
