"""The :class:`Principal`: who a request acts for, built from verified claims.

The claims are hints. A token's ``tenant_id`` says which tenant the caller *asks* to act in;
only the application's own records (tenant membership and roles, read through
:class:`~tessera.authz.membership.MembershipCache`) say whether the subject may.
:func:`~tessera.authz.membership.authorize_principal` turns a hint into a verified
principal: ``verified_tenant`` set and ``roles`` filled.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tessera.jose.claims import Claims

__all__ = ["Principal"]


@dataclass(frozen=True, slots=True, repr=False)
class Principal:
    """The caller of one request.

    ``tenant_id`` is the tenant the token *claims*; ``verified_tenant`` is ``None`` until the
    membership check has confirmed it, and ``roles`` stays empty until then.
    """

    subject: str | None
    client_id: str | None
    tenant_id: str | None
    scopes: frozenset[str]
    roles: frozenset[str] = frozenset()
    verified_tenant: str | None = None

    @classmethod
    def from_claims(cls, claims: Claims) -> Principal:
        """An unverified principal: the claims as hints, no roles, no verified tenant."""
        return cls(
            subject=claims.subject,
            client_id=claims.client_id,
            tenant_id=claims.tenant_id,
            scopes=claims.scope,
        )

    def with_membership(self, roles: frozenset[str]) -> Principal:
        """This principal once its claimed tenant has been confirmed, with its roles."""
        return dataclasses.replace(self, roles=frozenset(roles), verified_tenant=self.tenant_id)

    def __repr__(self) -> str:
        # No subject: it may be personal data (an email) and reprs end up in logs.
        return (
            f"Principal(tenant_id={self.tenant_id!r}, verified={self.verified_tenant is not None}, "
            f"scopes={sorted(self.scopes)!r}, roles={sorted(self.roles)!r})"
        )
