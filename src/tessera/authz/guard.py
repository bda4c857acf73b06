"""The :class:`Authorizer`: every per-request authorization step, in order, in one call.

1. the claims become an unverified :class:`~tessera.authz.principal.Principal` (hints);
2. membership: the claimed tenant is confirmed by the application's records
   (:func:`~tessera.authz.membership.authorize_principal`), which also give the roles;
3. least privilege: a granted scope must allow the action
   (:func:`~tessera.authz.actions.require_action`);
4. policies: when the Authorizer has a :class:`~tessera.authz.policy.PolicyEngine` and the
   endpoint names a resource, Cedar decides on the verified principal and that resource.

Each step raises; none is skipped once the previous one passed, and the order is fixed so no
endpoint can scope-check a principal whose tenant nobody confirmed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from tessera.authz.actions import ScopeMap, require_action
from tessera.authz.membership import MembershipCache, authorize_principal
from tessera.authz.policy import PolicyEngine, Resource
from tessera.authz.principal import Principal
from tessera.errors import NotAMember
from tessera.jose.claims import Claims

__all__ = ["Authorizer"]


class Authorizer:
    """Membership, then scopes, then policies: the authorization of one request."""

    __slots__ = ("_memberships", "_policies", "_scope_map")

    def __init__(
        self,
        *,
        scope_map: ScopeMap,
        memberships: MembershipCache,
        policies: PolicyEngine | None = None,
    ) -> None:
        self._scope_map: Final = scope_map
        self._memberships: Final = memberships
        self._policies: Final = policies

    @property
    def scope_map(self) -> ScopeMap:
        """The scopes → actions map (the HTTP edge names the granting scopes in a 403)."""
        return self._scope_map

    async def authorize(
        self,
        claims: Claims,
        action: str,
        resource: Resource | None = None,
        context: Mapping[str, object] | None = None,
    ) -> Principal:
        """Return the verified principal, or raise at the first step that refuses.

        Raises :class:`~tessera.errors.NotAMember` (claimed tenant not confirmed),
        :class:`~tessera.errors.ActionNotAllowed` (no granted scope allows ``action``) or
        :class:`~tessera.errors.PolicyDenied` (the policies refuse ``action`` on
        ``resource``). Without a policy engine, or without a resource, step 4 is skipped:
        the endpoint is guarded by membership and scopes alone.
        """
        principal = await authorize_principal(Principal.from_claims(claims), self._memberships)
        require_action(principal, action, self._scope_map)
        if resource is not None:
            self.check_policies(principal, action, resource, context)
        return principal

    def check_policies(
        self,
        principal: Principal,
        action: str,
        resource: Resource,
        context: Mapping[str, object] | None = None,
    ) -> None:
        """Step 4 alone, for a principal :meth:`authorize` has just returned; raise or pass.

        For callers that must learn the resource after the cheaper steps passed (the FastAPI
        dependency loads it only for a confirmed member). An unverified principal is refused
        (``NotAMember``), engine or not; without a policy engine a verified one passes, as in
        :meth:`authorize`.
        """
        if principal.verified_tenant is None:
            raise NotAMember("membership has not been checked")
        if self._policies is not None:
            self._policies.check(principal, action, resource, context)

    def __repr__(self) -> str:
        return f"Authorizer(scope_map={self._scope_map!r}, policies={self._policies!r})"
