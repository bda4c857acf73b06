"""Authorization after verification: claims are hints, the application's records decide.

:class:`Principal` is built from verified claims; :func:`authorize_principal` confirms its
claimed tenant against the application's membership records (through a
:class:`MembershipCache` over a :class:`MembershipSource`) and fills its roles;
:func:`require_action` checks that a granted scope allows the endpoint's action.
"""

from tessera.authz.actions import ScopeMap, require_action
from tessera.authz.membership import MembershipCache, MembershipSource, authorize_principal
from tessera.authz.principal import Principal

__all__ = [
    "MembershipCache",
    "MembershipSource",
    "Principal",
    "ScopeMap",
    "authorize_principal",
    "require_action",
]
