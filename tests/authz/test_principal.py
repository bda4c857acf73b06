"""Principal (claims are hints) and least privilege: scope → action checks."""

from __future__ import annotations

import pytest

import tessera.authz
from tessera.authz import Principal, ScopeMap, require_action
from tessera.errors import ActionNotAllowed, ConfigurationError, NotAMember
from tessera.jose.claims import Claims

SCOPES = ScopeMap({"data:read": {"data.list", "data.aggregate"}, "data:export": {"data.export"}})


def _claims(**extra):
    return Claims({"iss": "https://as", "aud": "api", "exp": 2_000_000_000, **extra})


def _verified(*scopes):
    return Principal(
        subject="alice", client_id="app", tenant_id="A", scopes=frozenset(scopes)
    ).with_membership(frozenset({"member"}))


def test_public_names():
    assert sorted(tessera.authz.__all__) == [
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


def test_from_claims_takes_the_claims_as_unverified_hints():
    p = Principal.from_claims(
        _claims(sub="alice", client_id="app", tenant_id="B", scope="data:read data:export")
    )
    assert (p.subject, p.client_id, p.tenant_id) == ("alice", "app", "B")
    assert p.scopes == {"data:read", "data:export"}
    assert p.roles == frozenset()
    assert p.verified_tenant is None


def test_from_claims_without_optional_claims():
    p = Principal.from_claims(_claims())
    assert (p.subject, p.client_id, p.tenant_id, p.scopes) == (None, None, None, frozenset())


def test_with_membership_confirms_the_claimed_tenant_and_fills_roles():
    p = Principal.from_claims(_claims(sub="alice", tenant_id="A"))
    v = p.with_membership(frozenset({"admin"}))
    assert v.verified_tenant == "A"
    assert v.roles == {"admin"}
    assert p.verified_tenant is None  # frozen: the hint is not altered


def test_principal_is_frozen():
    p = Principal.from_claims(_claims(sub="alice", tenant_id="A"))
    with pytest.raises(AttributeError):
        p.verified_tenant = "A"  # type: ignore[misc]


def test_repr_leaves_the_subject_out():
    p = Principal.from_claims(_claims(sub="alice@example.com", tenant_id="A"))
    assert "alice" not in repr(p)
    assert "verified=False" in repr(p)


@pytest.mark.parametrize(
    ("scopes", "action", "allowed"),
    [
        (("data:read",), "data.list", True),
        (("data:read",), "data.aggregate", True),
        (("data:read",), "data.export", False),
        (("data:export",), "data.export", True),
        (("data:export",), "data.list", False),
        (("data:export",), "data.aggregate", False),
        ((), "data.list", False),
        (("data:write",), "data.list", False),  # a scope the map does not know grants nothing
        (("data:read", "data:export"), "data.export", True),
    ],
)
def test_require_action_for_each_action(scopes, action, allowed):
    principal = _verified(*scopes)
    if allowed:
        assert require_action(principal, action, SCOPES) is None
    else:
        with pytest.raises(ActionNotAllowed) as caught:
            require_action(principal, action, SCOPES)
        assert caught.value.code == "action_not_allowed"
        assert caught.value.fields == {"action": action}


def test_require_action_refuses_an_unverified_principal():
    hint = Principal(
        subject="alice", client_id=None, tenant_id="A", scopes=frozenset({"data:read"})
    )
    with pytest.raises(NotAMember):
        require_action(hint, "data.list", SCOPES)


def test_an_action_no_scope_grants_is_a_configuration_error():
    with pytest.raises(ConfigurationError):
        require_action(_verified("data:read"), "data.lsit", SCOPES)


def test_scope_map_lookups():
    assert SCOPES.actions == {"data.list", "data.aggregate", "data.export"}
    assert SCOPES.actions_for({"data:read", "nope"}) == {"data.list", "data.aggregate"}
    assert SCOPES.scopes_for("data.export") == {"data:export"}
    assert "data.list" not in repr(SCOPES)  # scopes named, actions not


@pytest.mark.parametrize(
    "mapping",
    [
        {},
        {"": {"a"}},
        {"two words": {"a"}},
        {"s": set()},
        {"s": "data.list"},  # a bare string, not a collection
        {"s": {""}},
    ],
)
def test_scope_map_refuses_malformed_mappings(mapping):
    with pytest.raises(ConfigurationError):
        ScopeMap(mapping)
