"""Cedar policies: the fixture policy set decided case by case, start-up failures, hostile ids.

The fixtures under ``policies/`` are a small data API: ``Dataset`` resources with a tenant and
a classification, actions ``data.list``/``data.aggregate``/``data.export``/``members.manage``,
roles viewer/analyst/admin, a tenant-boundary forbid and an ABAC rule on an attribute and a
context value. Each rule is removed-proof: some case below flips if it goes.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import cedarpy
import pytest
from structlog.testing import capture_logs

from tessera.authz import Decision, PolicyEngine, Principal, Resource
from tessera.authz import policy as policy_module
from tessera.errors import ActionNotAllowed, ConfigurationError, NotAMember, PolicyDenied

POLICIES = Path(__file__).parent / "policies"
SCHEMA = POLICIES / "data_api.cedarschema"
RULES = POLICIES / "data_api.cedar"
NAMED = POLICIES / "named_user.cedar"
ACTIONS = ("data.list", "data.aggregate", "data.export", "members.manage")
SMALL = {"rows": 500, "format": "csv"}
LARGE = {"rows": 5000, "format": "csv"}


def member(*roles, tenant="A", subject="alice", client_id="app"):
    unverified = Principal(
        subject=subject, client_id=client_id, tenant_id=tenant, scopes=frozenset({"data:read"})
    )
    return unverified.with_membership(frozenset(roles))


def dataset(classification="internal", tenant="A", name="events"):
    return Resource("Dataset", name, tenant, {"classification": classification})


def directory(tenant="A"):
    return Resource("MemberDirectory", "members", tenant)


@pytest.fixture
def decisions():
    return []


@pytest.fixture
def engine(decisions):
    return PolicyEngine.from_files(
        [RULES, NAMED], SCHEMA, actions=ACTIONS, decision_log=decisions.append
    )


# --- allow and deny for each action -------------------------------------------------------

ALLOWED = [
    # (roles, action, resource, context, determining policy)
    (("viewer",), "data.list", dataset("internal"), None, "viewer-read"),
    (("viewer",), "data.aggregate", dataset("public"), None, "viewer-read"),
    (("analyst",), "data.list", dataset("restricted"), None, "analyst-read"),
    (("analyst",), "data.aggregate", dataset("restricted"), None, "analyst-read"),
    (("analyst",), "data.export", dataset("public"), LARGE, "analyst-export"),
    (("analyst",), "data.export", dataset("internal"), SMALL, "analyst-export"),
    (("admin",), "data.export", dataset("internal"), LARGE, "admin-all"),
    (("admin",), "members.manage", directory(), None, "admin-all"),
]

DENIED = [
    # (roles, action, resource, context, determining policies: () is the default deny)
    (("viewer",), "data.list", dataset("restricted"), None, ()),
    ((), "data.list", dataset("public"), None, ()),
    (("viewer",), "data.aggregate", dataset("restricted"), None, ()),
    (("auditor",), "data.aggregate", dataset("public"), None, ()),
    (("viewer",), "data.export", dataset("public"), SMALL, ()),
    (("analyst",), "data.export", dataset("internal"), LARGE, ()),
    (("admin",), "data.export", dataset("restricted"), SMALL, ("restricted-no-export",)),
    (("analyst",), "members.manage", directory(), None, ()),
    (("viewer", "analyst"), "members.manage", directory(), None, ()),
    (("admin",), "data.list", dataset("public", tenant="B"), None, ("tenant-boundary",)),
]


@pytest.mark.parametrize(("roles", "action", "resource", "context", "policy"), ALLOWED)
def test_allowed(engine, roles, action, resource, context, policy):
    decision = engine.check(member(*roles), action, resource, context)
    assert decision.allowed
    assert decision.policies == (policy,)
    assert (decision.action, decision.resource_type, decision.resource_id) == (
        action,
        resource.type,
        resource.id,
    )
    assert (decision.tenant_id, decision.client_id, decision.errors) == ("A", "app", 0)


@pytest.mark.parametrize(("roles", "action", "resource", "context", "policies"), DENIED)
def test_denied(engine, decisions, roles, action, resource, context, policies):
    with pytest.raises(PolicyDenied) as caught:
        engine.check(member(*roles), action, resource, context)
    assert caught.value.code == "policy_denied"
    assert caught.value.fields["policies"] == policies
    assert decisions[-1].allowed is False
    assert decisions[-1].policies == policies


def test_every_action_has_an_allow_and_a_deny_case():
    for action in ACTIONS:
        assert any(case[1] == action for case in ALLOWED), action
        assert any(case[1] == action for case in DENIED), action


def test_policy_denied_is_an_action_not_allowed():
    """Code catching ActionNotAllowed (a 403) also catches policy refusals."""
    assert issubclass(PolicyDenied, ActionNotAllowed)


# --- the tenant boundary, forbid over permit, default deny --------------------------------


@pytest.mark.parametrize(
    ("action", "resource", "context"),
    [
        ("data.list", dataset("public", tenant="B"), None),
        ("data.aggregate", dataset("public", tenant="B"), None),
        ("data.export", dataset("public", tenant="B"), SMALL),
        ("members.manage", directory(tenant="B"), None),
    ],
)
def test_another_tenants_resource_is_denied_even_to_an_admin(engine, action, resource, context):
    admin = member("admin", "analyst", "viewer")
    with pytest.raises(PolicyDenied) as caught:
        engine.check(admin, action, resource, context)
    assert caught.value.fields["policies"] == ("tenant-boundary",)
    # The same request in the admin's own tenant is allowed: only the boundary refused it.
    own = Resource(resource.type, resource.id, "A", resource.attributes)
    assert engine.check(admin, action, own, context).allowed


def test_a_forbid_overrides_a_permit(engine):
    admin = member("admin")
    assert engine.check(admin, "data.list", dataset("restricted")).policies == ("admin-all",)
    with pytest.raises(PolicyDenied) as caught:
        engine.check(admin, "data.export", dataset("restricted"), SMALL)
    assert caught.value.fields["policies"] == ("restricted-no-export",)
    assert caught.value.message == "a policy forbids this action"


def test_nothing_applicable_is_a_deny(engine):
    with pytest.raises(PolicyDenied) as caught:
        engine.check(member("auditor"), "data.list", dataset("public"))
    assert caught.value.fields["policies"] == ()
    assert caught.value.message == "no policy permits it"


def test_abac_rule_reads_the_attribute_and_the_context(engine):
    """analyst-export: public datasets whole, others only in extracts of ≤ 1000 rows."""
    analyst = member("analyst")
    for rows in (1000, 999):
        assert engine.check(analyst, "data.export", dataset("internal"), {**SMALL, "rows": rows})
    with pytest.raises(PolicyDenied):
        engine.check(analyst, "data.export", dataset("internal"), {**SMALL, "rows": 1001})
    assert engine.check(analyst, "data.export", dataset("public"), {**SMALL, "rows": 10**9})


def test_an_unverified_principal_is_refused_without_evaluation(engine, decisions):
    hint = Principal(subject="alice", client_id="app", tenant_id="A", scopes=frozenset())
    bogus = Resource("NotInTheSchema", "x", "A")  # evaluating it would be a ConfigurationError
    with pytest.raises(NotAMember):
        engine.check(hint, "data.list", bogus)
    assert decisions == [
        Decision(
            allowed=False,
            action="data.list",
            resource_type="NotInTheSchema",
            resource_id="x",
            tenant_id=None,
            client_id="app",
            policies=(),
            errors=0,
            duration_us=decisions[0].duration_us,
        )
    ]


def test_an_erroring_policy_does_not_apply_and_is_counted(tmp_path, decisions):
    """Cedar: a policy whose evaluation errors is skipped (so a permit cannot allow)."""
    rules = tmp_path / "overflow.cedar"
    rules.write_text(
        '@id("overflowing")\n'
        'permit (principal, action == Action::"data.export", resource)\n'
        "when { context.rows * 1000 > 0 };\n"
    )
    engine = PolicyEngine.from_files(rules, SCHEMA, decision_log=decisions.append)
    assert engine.check(member(), "data.export", dataset(), SMALL).errors == 0
    with pytest.raises(PolicyDenied):
        engine.check(member(), "data.export", dataset(), {**SMALL, "rows": 2**62})
    assert (decisions[-1].allowed, decisions[-1].errors) == (False, 1)


def test_an_erroring_forbid_denies_although_cedar_would_skip_it(tmp_path, decisions):
    """Stricter than Cedar: a forbid that cannot be evaluated is not read as "no objection"."""
    rules = tmp_path / "overflowing_forbid.cedar"
    rules.write_text(
        '@id("everyone")\npermit (principal, action == Action::"data.export", resource);\n'
        '@id("huge-exports")\n'
        'forbid (principal, action == Action::"data.export", resource)\n'
        "when { context.rows * 1000 > 5000000 };\n"
    )
    engine = PolicyEngine.from_files(rules, SCHEMA, decision_log=decisions.append)
    assert engine.check(member(), "data.export", dataset(), SMALL).allowed
    raw = cedarpy.is_authorized(
        {
            "principal": {"type": "User", "id": "alice"},
            "action": {"type": "Action", "id": "data.export"},
            "resource": {"type": "Dataset", "id": "events"},
            "context": {"rows": 2**62, "format": "csv"},
        },
        rules.read_text(),
        policy_module._entities(member(), "alice", "A", dataset()),
    )
    assert raw.allowed  # Cedar alone: the erroring forbid is skipped and the permit wins
    with pytest.raises(PolicyDenied) as caught:
        engine.check(member(), "data.export", dataset(), {**SMALL, "rows": 2**62})
    assert caught.value.message == "a policy could not be evaluated; denied"
    assert (decisions[-1].allowed, decisions[-1].errors) == (False, 1)


def test_policy_and_schema_are_parsed_once(engine, monkeypatch):
    """A request hands Cedar the pre-parsed handles, never policy or schema text."""
    seen = []
    real = cedarpy.is_authorized

    def spy(request, policies, entities, schema=None, verbose=False):
        seen.append((policies, schema))
        return real(request, policies, entities, schema=schema, verbose=verbose)

    monkeypatch.setattr(cedarpy, "is_authorized", spy)
    engine.check(member("viewer"), "data.list", dataset())
    [(policies, schema)] = seen
    assert isinstance(policies, cedarpy.PolicySet)
    assert isinstance(schema, cedarpy.Schema)


# --- requests the schema refuses ----------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "resource", "context"),
    [
        ("data.list", dataset(classification=3), None),  # attribute of the wrong type
        ("data.list", Resource("Dataset", "events", "A"), None),  # required attribute missing
        ("data.delete", dataset(), None),  # action not in the schema
        ("data.list", Resource("Invoice", "1", "A"), None),  # resource type not in the schema
        ("data.export", dataset(), {"rows": 5}),  # context lacks "format"
        ("data.export", dataset(), {**SMALL, "rows": "5"}),  # context value of the wrong type
        ("data.list", dataset(), {"extra": True}),  # context the action does not declare
    ],
)
def test_a_request_the_schema_refuses_is_a_configuration_error(
    engine, decisions, action, resource, context
):
    with pytest.raises(ConfigurationError) as caught:
        engine.check(member("admin", subject="alice@example.test"), action, resource, context)
    assert "alice" not in str(caught.value)
    assert decisions[-1].allowed is False


@pytest.mark.parametrize(
    "value",
    [1.5, {"__entity": {"type": "Role", "id": "admin"}}, None, b"x", [1, 2], 2**63, -(2**63) - 1],
)
def test_values_cedar_cannot_take_are_refused(engine, value):
    with pytest.raises(ConfigurationError, match="'rows'"):
        engine.check(member("admin"), "data.export", dataset(), {**SMALL, "rows": value})
    with pytest.raises(ConfigurationError, match="'classification'"):
        engine.check(member("admin"), "data.list", dataset(classification=value))


def test_every_cedar_value_kind_passes(tmp_path):
    schema = tmp_path / "kinds.cedarschema"
    schema.write_text(
        SCHEMA.read_text() + 'action "kinds" appliesTo { principal: User, resource: Dataset,'
        " context: { s: String, i: Long, b: Bool, l: Set<String> } };\n"
    )
    rules = tmp_path / "kinds.cedar"
    rules.write_text(
        'permit (principal, action == Action::"kinds", resource) when {'
        ' context.s == "x" && context.i == -(9223372036854775807) - 1 && context.b'
        ' && context.l.contains("b") };\n'
    )
    engine = PolicyEngine.from_files(rules, schema, decision_log=lambda _: None)
    for listing in (["a", "b"], ("a", "b"), {"a", "b"}, frozenset({"b"})):
        context = {"s": "x", "i": -(2**63), "b": True, "l": listing}
        assert engine.check(member(), "kinds", dataset(), context).allowed
    with pytest.raises(PolicyDenied):
        engine.check(member(), "kinds", dataset(), {"s": "x", "i": 0, "b": True, "l": ["b"]})


def test_resource_types_tessera_builds_are_refused(engine):
    for reserved in ("User", "Tenant", "Role", "Action"):
        with pytest.raises(ConfigurationError, match="Tessera builds"):
            engine.check(member("admin"), "members.manage", Resource(reserved, "A", "A"))


def test_tenant_is_not_a_settable_attribute(engine):
    forged = Resource("Dataset", "events", "B", {"classification": "public", "tenant": "A"})
    with pytest.raises(ConfigurationError, match="tenant"):
        engine.check(member("admin"), "data.list", forged)


def test_resource_without_tenant_is_refused(engine):
    with pytest.raises(ConfigurationError, match="tenant"):
        engine.check(member("admin"), "data.list", dataset(tenant=""))


# --- hostile ids: data, never policy text -------------------------------------------------


def test_a_subject_with_quotes_and_backslashes_is_one_exact_id(engine):
    subject = 'a"b\\c'
    assert engine.check(member(subject=subject), "data.list", dataset("restricted")).policies == (
        "named-user",
    )
    for near in ('a"b\\c"', 'a\\"b\\\\c', "a", 'a"b', 'User::"a\\"b\\\\c"', 'a"b\\c\x00'):
        with pytest.raises(PolicyDenied):
            engine.check(member(subject=near), "data.list", dataset("restricted"))


@pytest.mark.parametrize(
    "tenant",
    [
        'B"',
        'A", "id": "B',
        'A"}, "parents": [{"type": "Tenant", "id": "B"}], "x": {"y": "',
        "B\\",
        "B\x00",
        "B\u2028",
        "Б",
    ],
)
def test_a_tenant_id_with_quotes_cannot_cross_the_boundary(engine, tenant):
    admin = member("admin", tenant=tenant)
    with pytest.raises(PolicyDenied) as caught:
        engine.check(admin, "data.list", dataset("public", tenant="B"))
    assert caught.value.fields["policies"] == ("tenant-boundary",)
    # Its own (hostile-looking) tenant is an ordinary tenant: the id round-trips exactly.
    assert engine.check(admin, "data.list", dataset("public", tenant=tenant)).allowed


@pytest.mark.parametrize(
    "role",
    ['admin"', 'viewer"}, {"type": "Role", "id": "admin', "Admin", "admin\\", " admin"],
)
def test_a_role_named_like_admin_is_not_admin(engine, role):
    with pytest.raises(PolicyDenied):
        engine.check(member(role), "members.manage", directory())


def test_hostile_resource_ids_and_attribute_values_stay_data(engine):
    tricky = Resource(
        "Dataset",
        'events"} , {"uid": {"type": "Role", "id": "admin"}',
        "A",
        {"classification": 'public" || true || "'},
    )
    # Not "public": the viewer rule (classification != "restricted") allows, analyst export
    # of a non-public dataset over 1000 rows does not.
    assert engine.check(member("viewer"), "data.list", tricky).allowed
    with pytest.raises(PolicyDenied):
        engine.check(member("analyst"), "data.export", tricky, LARGE)


# --- the decision log -----------------------------------------------------------------------

LOG_KEYS = {
    "event",
    "log_level",
    "decision",
    "action",
    "resource_type",
    "resource_id",
    "tenant_id",
    "client_id",
    "policies",
    "errors",
    "duration_us",
}


def test_default_decision_log_records_metadata_of_allows_and_denies():
    engine = PolicyEngine.from_files([RULES], SCHEMA)
    subject = "carol@example.test"
    with capture_logs() as logs:
        engine.check(member("analyst", subject=subject), "data.list", dataset("restricted"))
        with pytest.raises(PolicyDenied):
            engine.check(member("viewer", subject=subject), "data.list", dataset("restricted"))
        with pytest.raises(PolicyDenied):
            engine.check(member("admin", subject=subject), "data.list", dataset(tenant="B"))
    assert [r["event"] for r in logs] == ["authz.decision"] * 3
    assert [r["decision"] for r in logs] == ["allow", "deny", "deny"]
    assert [r["policies"] for r in logs] == [["analyst-read"], [], ["tenant-boundary"]]
    for record in logs:
        assert set(record) == LOG_KEYS
        assert record["log_level"] == "info"
        assert (record["action"], record["resource_type"]) == ("data.list", "Dataset")
        assert (record["resource_id"], record["tenant_id"]) == ("events", "A")
        assert record["client_id"] == "app"
        assert record["errors"] == 0
        assert record["duration_us"] > 0
        flat = repr(record)
        assert "carol" not in flat  # the subject is personal data
        assert "restricted" not in flat  # attribute values stay out
        assert "admin" not in flat  # roles too
        assert "data:read" not in flat  # and scopes


def test_default_decision_log_uses_the_tessera_authz_logger(monkeypatch):
    calls = []

    class Recorder:
        def info(self, event, **fields):
            calls.append((event, fields))

    monkeypatch.setattr(policy_module, "_log", Recorder())
    PolicyEngine.from_files([RULES], SCHEMA).check(member("viewer"), "data.list", dataset())
    assert [event for event, _ in calls] == ["authz.decision"]
    source = Path(policy_module.__file__).read_text()
    assert 'structlog.get_logger("tessera.authz")' in source


def test_an_injected_decision_log_replaces_the_default(decisions):
    engine = PolicyEngine.from_files([RULES], SCHEMA, decision_log=decisions.append)
    with capture_logs() as logs:
        engine.check(member("viewer"), "data.list", dataset())
    assert logs == []
    assert len(decisions) == 1
    assert decisions[0].allowed


# --- start-up: every failure stops it, with file, policy and Cedar's words ----------------


def test_the_fixture_loads_with_every_action_declared(engine):
    assert repr(engine) == "PolicyEngine(policies=7)"


def test_a_missing_policy_file_stops_start_up(tmp_path):
    missing = tmp_path / "nope.cedar"
    with pytest.raises(ConfigurationError, match=re.escape(str(missing))):
        PolicyEngine.from_files([RULES, missing], SCHEMA)


def test_a_missing_schema_file_stops_start_up(tmp_path):
    missing = tmp_path / "nope.cedarschema"
    with pytest.raises(ConfigurationError, match=re.escape(str(missing))):
        PolicyEngine.from_files(RULES, missing)


def test_an_undecodable_policy_file_stops_start_up(tmp_path):
    broken = tmp_path / "latin1.cedar"
    broken.write_bytes(b"// caf\xe9\n")
    with pytest.raises(ConfigurationError, match=r"latin1\.cedar"):
        PolicyEngine.from_files(broken, SCHEMA)


def test_no_policy_file_at_all_is_refused():
    with pytest.raises(ConfigurationError, match="at least one"):
        PolicyEngine.from_files([], SCHEMA)


def test_a_parse_error_names_the_file_and_cedars_error(tmp_path):
    broken = tmp_path / "broken.cedar"
    broken.write_text("permit (principal, action resource);\n")
    with pytest.raises(ConfigurationError) as caught:
        PolicyEngine.from_files([RULES, broken], SCHEMA)
    message = str(caught.value)
    assert str(broken) in message
    assert "parse error" in message
    assert "unexpected token" in message  # Cedar's own words


def test_a_schema_parse_error_names_the_file(tmp_path):
    broken = tmp_path / "broken.cedarschema"
    broken.write_text("entity Tenant {\n")
    with pytest.raises(ConfigurationError) as caught:
        PolicyEngine.from_files(RULES, broken)
    assert str(broken) in str(caught.value)
    assert "does not parse" in str(caught.value)


def test_a_json_schema_is_read_as_json(tmp_path):
    schema = tmp_path / "schema.json"
    schema.write_text(
        '{"": {"entityTypes": {"Tenant": {}, "Role": {}, "User": {"memberOfTypes":'
        ' ["Tenant", "Role"], "shape": {"type": "Record", "attributes": {'
        '"tenant": {"type": "Entity", "name": "Tenant"},'
        ' "roles": {"type": "Set", "element": {"type": "String"}},'
        ' "scopes": {"type": "Set", "element": {"type": "String"}},'
        ' "client_id": {"type": "String"}}}}}, "actions": {}}}'
    )
    rules = tmp_path / "none.cedar"
    rules.write_text("// no policies: everything is denied\n")
    assert repr(PolicyEngine.from_files(rules, schema)) == "PolicyEngine(policies=0)"
    with pytest.raises(ConfigurationError, match="does not parse"):
        PolicyEngine.from_files(rules, schema.rename(tmp_path / "schema.json.cedarschema"))


def test_a_validation_error_names_the_file_the_policy_and_cedars_error(tmp_path):
    bad = tmp_path / "bad.cedar"
    bad.write_text(
        '@id("owner-reads")\n'
        'permit (principal, action == Action::"data.list", resource)\n'
        'when { resource.owner == "alice" };\n'
    )
    with pytest.raises(ConfigurationError) as caught:
        PolicyEngine.from_files([RULES, bad], SCHEMA)
    message = str(caught.value)
    assert str(bad) in message
    assert "'owner-reads'" in message
    assert "attribute `owner`" in message  # Cedar's words
    assert caught.value.fields["policy"] == "owner-reads"


def test_a_validation_error_without_an_id_names_cedars_policy_id(tmp_path):
    bad = tmp_path / "bad.cedar"
    bad.write_text(
        "permit (principal, action, resource);\n"
        'permit (principal, action == Action::"data.delete", resource);\n'
    )
    with pytest.raises(ConfigurationError) as caught:
        PolicyEngine.from_files(bad, SCHEMA)
    assert "policy1" in str(caught.value)
    assert 'Action::"data.delete"' in str(caught.value)


def test_unguarded_use_of_an_optional_attribute_fails_validation(tmp_path):
    schema = tmp_path / "optional.cedarschema"
    schema.write_text(SCHEMA.read_text().replace("classification: String", "label?: String"))
    rules = tmp_path / "label.cedar"
    rules.write_text(
        '@id("label") permit (principal, action, resource is Dataset)'
        ' when { resource.label == "x" };\n'
    )
    with pytest.raises(ConfigurationError, match="'label'"):
        PolicyEngine.from_files(rules, schema)
    rules.write_text(
        '@id("label") permit (principal, action, resource is Dataset)'
        ' when { resource has label && resource.label == "x" };\n'
    )
    PolicyEngine.from_files(rules, schema)


def test_an_undeclared_action_stops_start_up(tmp_path):
    with pytest.raises(ConfigurationError) as caught:
        PolicyEngine.from_files(RULES, SCHEMA, actions=[*ACTIONS, "data.delete"])
    assert "'data.delete'" in str(caught.value)
    assert str(SCHEMA) in str(caught.value)
    assert caught.value.fields == {"action": "data.delete"}


@pytest.mark.parametrize("action", ['data.list"', 'data.list", "x', "data.list\\", ""])
def test_action_names_are_checked_as_data(action):
    with pytest.raises(ConfigurationError):
        PolicyEngine.from_files(RULES, SCHEMA, actions=[action])


def test_actions_as_a_bare_string_is_refused():
    with pytest.raises(ConfigurationError, match="collection"):
        PolicyEngine.from_files(RULES, SCHEMA, actions="data.list")


def _altered_schema(tmp_path, *edits):
    text = SCHEMA.read_text()
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "altered.cedarschema"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("edits", "entity_type"),
    [
        ([("entity Tenant;", "entity Tenant { name: String };")], "Tenant"),
        ([("entity Role;", ""), ("in [Tenant, Role]", "in [Tenant]")], "Role"),
        ([("in [Tenant, Role]", "in [Tenant]")], "User"),
        ([("  client_id: String,\n", "")], "User"),
        ([("  scopes: Set<String>,\n", "  scopes: Set<Long>,\n")], "User"),
    ],
)
def test_a_schema_without_tesseras_entity_model_stops_start_up(tmp_path, edits, entity_type):
    schema = _altered_schema(tmp_path, *edits)
    rules = tmp_path / "none.cedar"
    rules.write_text("")
    with pytest.raises(ConfigurationError) as caught:
        PolicyEngine.from_files(rules, schema)
    assert str(schema) in str(caught.value)
    assert f"entity type {entity_type}" in str(caught.value)
    assert caught.value.fields == {"entity_type": entity_type}


def test_a_missing_user_type_stops_start_up(tmp_path):
    schema = tmp_path / "accounts.cedarschema"
    schema.write_text(
        "entity Tenant; entity Role; entity Account in [Tenant, Role];\n"
        'action "data.list" appliesTo { principal: Account, resource: Tenant };\n'
    )
    rules = tmp_path / "none.cedar"
    rules.write_text("")
    with pytest.raises(ConfigurationError, match="entity type User"):
        PolicyEngine.from_files(rules, schema)


def test_a_template_stops_start_up(tmp_path):
    rules = tmp_path / "template.cedar"
    rules.write_text('@id("link-me") permit (principal == ?principal, action, resource);\n')
    with pytest.raises(ConfigurationError, match=r"'link-me'.*template"):
        PolicyEngine.from_files(rules, SCHEMA)


def test_a_repeated_policy_id_stops_start_up(tmp_path):
    copy = tmp_path / "copy.cedar"
    shutil.copy(RULES, copy)
    with pytest.raises(ConfigurationError, match="'viewer-read' is already used"):
        PolicyEngine.from_files([RULES, copy], SCHEMA)
    twice = tmp_path / "twice.cedar"
    twice.write_text(
        '@id("same") permit (principal in Role::"viewer", action, resource);\n'
        '@id("same") permit (principal in Role::"admin", action, resource);\n'
    )
    with pytest.raises(ConfigurationError, match="'same' is already used"):
        PolicyEngine.from_files(twice, SCHEMA)


def test_policies_without_an_id_are_named_by_file_and_position(tmp_path, decisions):
    rules = tmp_path / "plain.cedar"
    rules.write_text(
        'forbid (principal, action, resource is Dataset) when { resource.classification == "x" };\n'
        'permit (principal in Role::"viewer", action == Action::"data.list", resource);\n'
    )
    engine = PolicyEngine.from_files([RULES, rules], SCHEMA, decision_log=decisions.append)
    decision = engine.check(member("viewer"), "data.list", dataset("restricted"))
    assert decision.policies == ("plain.cedar:policy1",)


# --- parsed entities are reused, never across different requests ---------------------------


def test_a_repeated_request_reuses_its_parsed_entities(engine, monkeypatch):
    parses = []
    real = cedarpy.Entities.from_json_str

    def spy(text, schema=None):
        parses.append(text)
        return real(text, schema)

    monkeypatch.setattr(cedarpy.Entities, "from_json_str", spy)
    for _ in range(3):
        engine.check(member("viewer"), "data.list", dataset())
    assert len(parses) == 1
    engine.check(member("viewer", subject="bob"), "data.list", dataset())
    engine.check(member("viewer"), "data.list", dataset("public"))
    assert len(parses) == 3


def test_the_cache_never_answers_for_another_principal_or_resource(engine):
    """Same engine, alternating: each decision follows its own roles and resource."""
    for _ in range(2):
        with pytest.raises(PolicyDenied):
            engine.check(member("viewer"), "data.export", dataset("public"), SMALL)
        assert engine.check(member("analyst"), "data.export", dataset("public"), SMALL)
        with pytest.raises(PolicyDenied):
            engine.check(member("admin"), "data.list", dataset(tenant="B"))
        assert engine.check(member("admin"), "data.list", dataset(tenant="A"))


def test_the_parsed_entity_cache_is_bounded(engine, monkeypatch):
    monkeypatch.setattr(policy_module, "ENTITY_CACHE_SIZE", 5)
    for i in range(20):
        engine.check(member("viewer", subject=f"user-{i}"), "data.list", dataset())
    assert len(engine._parsed) == 5
    # The newest stay: the last subject is a hit, no parse needed to decide again.
    assert engine.check(member("viewer", subject="user-19"), "data.list", dataset())


def test_entities_the_schema_refuses_are_not_cached(engine):
    wrong = Resource("Dataset", "events", "A", {"classification": 3})
    for _ in range(2):
        with pytest.raises(ConfigurationError):
            engine.check(member("viewer"), "data.list", wrong)
    assert engine._parsed == {}
