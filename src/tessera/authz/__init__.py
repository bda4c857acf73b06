"""Authorization after verification: claims are hints, the application's records decide.

:class:`Principal` is built from verified claims; :func:`authorize_principal` confirms its
claimed tenant against the application's membership records (through a
:class:`MembershipCache` over a :class:`MembershipSource`) and fills its roles;
:func:`require_action` checks that a granted scope allows the endpoint's action;
:class:`PolicyEngine` asks Cedar policies, validated against a schema at start-up, whether the
principal may do the action on a :class:`Resource`. :class:`Authorizer` runs those steps in
order for one request; ``tessera.authz.fastapi.authorize`` is its FastAPI dependency (imported
from there: this package does not need FastAPI).
"""

from tessera.authz.actions import ScopeMap, require_action
from tessera.authz.guard import Authorizer
from tessera.authz.membership import MembershipCache, MembershipSource, authorize_principal
from tessera.authz.policy import Decision, PolicyEngine, Resource
from tessera.authz.principal import Principal
from tessera.authz.sqlite_scope import install_tenant_views, scoped_sqlite_transaction

__all__ = [
    "Authorizer",
    "Decision",
    "MembershipCache",
    "MembershipSource",
    "PolicyEngine",
    "Principal",
    "Resource",
    "ScopeMap",
    "authorize_principal",
    "install_tenant_views",
    "require_action",
    "scoped_sqlite_transaction",
]
