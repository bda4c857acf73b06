"""The Authorizer: membership, then scopes, then policies, each step refusing on its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.authz import Authorizer, MembershipCache, PolicyEngine, Principal, Resource, ScopeMap
from tessera.errors import ActionNotAllowed, ConfigurationError, NotAMember, PolicyDenied
from tessera.jose.claims import Claims

POLICIES = Path(__file__).parent / "policies"
SCHEMA = POLICIES / "data_api.cedarschema"
SCOPES = ScopeMap(
    {
        "data:read": {"data.list", "data.aggregate"},
        "data:export": {"data.export"},
        "members:admin": {"members.manage"},
    }
)
EVENTS = Resource("Dataset", "events", "A", {"classification": "internal"})


class Memberships:
    """The application's membership table: {(tenant, subject): roles}; counts its queries."""

    def __init__(self, rows):
        self.rows = dict(rows)
        self.calls = 0

    async def roles(self, tenant_id, subject):
        self.calls += 1
        return self.rows.get((tenant_id, subject))


def claims(sub="alice", tenant="A", scope="data:read", **extra):
    hints = {"sub": sub, "tenant_id": tenant, "scope": scope}
    data = {"iss": "https://as", "aud": "api", "exp": 2_000_000_000, "client_id": "app", **extra}
    return Claims(data | {name: value for name, value in hints.items() if value is not None})


@pytest.fixture
def source():
    return Memberships(
        {
            ("A", "alice"): frozenset({"viewer"}),
            ("A", "ann"): frozenset({"analyst"}),
            ("B", "bob"): frozenset({"admin"}),
        }
    )


@pytest.fixture
def decisions():
    return []


@pytest.fixture
def engine(decisions):
    return PolicyEngine.from_files(
        POLICIES / "data_api.cedar",
        SCHEMA,
        actions=SCOPES.actions,
        decision_log=decisions.append,
    )


@pytest.fixture
def authorizer(source, engine):
    return Authorizer(scope_map=SCOPES, memberships=MembershipCache(source), policies=engine)


async def test_an_allowed_request_returns_the_verified_principal(authorizer, decisions):
    principal = await authorizer.authorize(claims(), "data.list", EVENTS)
    assert isinstance(principal, Principal)
    assert (principal.subject, principal.verified_tenant) == ("alice", "A")
    assert principal.roles == {"viewer"}
    assert [d.policies for d in decisions] == [("viewer-read",)]


async def test_a_forged_tenant_claim_is_refused_before_scopes_and_policies(
    authorizer, source, decisions
):
    """alice is a member of A only; a token claiming B is refused whatever else it says."""
    with pytest.raises(NotAMember):
        await authorizer.authorize(claims(tenant="B", scope="nothing"), "data.list", EVENTS)
    assert source.calls == 1
    assert decisions == []


@pytest.mark.parametrize(("sub", "tenant"), [(None, "A"), ("alice", None), ("", "A")])
async def test_a_token_naming_no_subject_or_tenant_is_refused(authorizer, sub, tenant):
    with pytest.raises(NotAMember):
        await authorizer.authorize(claims(sub=sub, tenant=tenant), "data.list", EVENTS)


async def test_a_missing_scope_is_refused_before_the_policies(authorizer, decisions):
    with pytest.raises(ActionNotAllowed) as caught:
        await authorizer.authorize(claims(sub="ann", scope="data:read"), "data.export", EVENTS)
    assert not isinstance(caught.value, PolicyDenied)
    assert decisions == []
    context = {"rows": 10, "format": "csv"}
    ok = claims(sub="ann", scope="data:read data:export")
    assert await authorizer.authorize(ok, "data.export", EVENTS, context)


async def test_the_policies_refuse_what_scopes_allow(authorizer, decisions):
    """alice holds data:export but is only a viewer: Cedar says no."""
    with pytest.raises(PolicyDenied):
        await authorizer.authorize(
            claims(scope="data:export"), "data.export", EVENTS, {"rows": 1, "format": "csv"}
        )
    assert [d.allowed for d in decisions] == [False]


async def test_the_context_reaches_the_policies(authorizer):
    ann = claims(sub="ann", scope="data:export")
    assert await authorizer.authorize(ann, "data.export", EVENTS, {"rows": 1000, "format": "csv"})
    with pytest.raises(PolicyDenied):
        await authorizer.authorize(ann, "data.export", EVENTS, {"rows": 1001, "format": "csv"})


async def test_the_tenant_boundary_holds_for_a_verified_admin(authorizer):
    bob = claims(sub="bob", tenant="B", scope="data:read")
    with pytest.raises(PolicyDenied):
        await authorizer.authorize(bob, "data.list", EVENTS)  # EVENTS belongs to A
    own = Resource("Dataset", "events", "B", {"classification": "internal"})
    assert (await authorizer.authorize(bob, "data.list", own)).verified_tenant == "B"


async def test_without_a_resource_the_policies_are_not_asked(authorizer, decisions):
    principal = await authorizer.authorize(claims(scope="members:admin"), "members.manage")
    assert principal.verified_tenant == "A"
    assert decisions == []


async def test_without_an_engine_membership_and_scopes_still_decide(source):
    authorizer = Authorizer(scope_map=SCOPES, memberships=MembershipCache(source))
    assert await authorizer.authorize(claims(), "data.list", EVENTS)
    with pytest.raises(NotAMember):
        await authorizer.authorize(claims(tenant="B"), "data.list", EVENTS)
    with pytest.raises(ActionNotAllowed):
        await authorizer.authorize(claims(), "data.export", EVENTS)


async def test_a_removed_member_is_refused_once_the_cache_is_told(source, engine):
    cache = MembershipCache(source)
    authorizer = Authorizer(scope_map=SCOPES, memberships=cache, policies=engine)
    assert await authorizer.authorize(claims(), "data.list", EVENTS)
    del source.rows[("A", "alice")]
    cache.invalidate("A", "alice")
    with pytest.raises(NotAMember):
        await authorizer.authorize(claims(), "data.list", EVENTS)


async def test_an_action_no_scope_grants_is_a_configuration_error(authorizer):
    with pytest.raises(ConfigurationError):
        await authorizer.authorize(claims(), "data.delete", EVENTS)


def test_check_policies_refuses_an_unverified_principal_even_without_an_engine(source):
    hint = Principal.from_claims(claims())
    for engine in (None, PolicyEngine.from_files(POLICIES / "data_api.cedar", SCHEMA)):
        authorizer = Authorizer(
            scope_map=SCOPES, memberships=MembershipCache(source), policies=engine
        )
        with pytest.raises(NotAMember):
            authorizer.check_policies(hint, "data.list", EVENTS)


def test_the_scope_map_is_exposed_for_the_http_edge(authorizer):
    assert authorizer.scope_map is SCOPES
    assert "alice" not in repr(authorizer)
