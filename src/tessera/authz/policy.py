"""Attribute-based policies in Cedar: files validated at start-up, one evaluation per request.

:meth:`PolicyEngine.from_files` reads Cedar policy files and a Cedar schema, validates every
policy against the schema and parses both once; a policy that does not parse or type-check stops
start-up with a :class:`~tessera.errors.ConfigurationError` naming the file, the policy and
Cedar's own error. :meth:`PolicyEngine.check` then builds the request's entities from a
*verified* :class:`~tessera.authz.principal.Principal` and a :class:`Resource`, and asks Cedar:

- principal ``User::"<subject>"`` {tenant, roles, scopes, client_id}, member of
  ``Tenant::"<verified tenant>"`` and of ``Role::"<role>"`` for each role;
- resource ``<type>::"<id>"`` {tenant, **attributes}, member of its ``Tenant``;
- action ``Action::"<name>"``; context the mapping given (or empty).

Cedar semantics: a ``forbid`` that applies wins, otherwise an applicable ``permit`` allows, and
nothing applicable denies (default deny). Tessera is stricter than Cedar in one place: Cedar
skips a policy whose evaluation errors (an integer overflow, say: validation against the schema
rules out most other errors), so an erroring ``forbid`` would not deny. Here any evaluation error
denies the request: a forbid that could not be evaluated must not be read as "no objection".
:attr:`Decision.errors` counts them, so the decision log shows them.
Entities and context go to Cedar as JSON built by a serializer, never as policy text, so an id
full of quotes or backslashes stays one opaque string.

Every decision is handed to the decision log: by default the structlog logger ``tessera.authz``,
event ``authz.decision``, with metadata only (no subject, no token, no attribute values).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import cedarpy
import orjson
import structlog

from tessera.authz.policy_files import load_policies, load_schema, require_declared_action, uid
from tessera.authz.principal import Principal
from tessera.errors import ConfigurationError, NotAMember, PolicyDenied

__all__ = ["Decision", "PolicyEngine", "Resource", "log_decision"]

_log = structlog.get_logger("tessera.authz")

# The entity types Tessera builds itself; a Resource may not claim one of them.
_BUILT_TYPES: Final = frozenset({"User", "Tenant", "Role", "Action"})
ENTITY_CACHE_SIZE: Final = 4096  # parsed entity documents kept per engine
_LONG_MIN: Final = -(2**63)  # Cedar's Long is a signed 64-bit integer
_LONG_MAX: Final = 2**63 - 1

AttributeValue = str | int | bool | Sequence[str]


@dataclass(frozen=True, slots=True)
class Resource:
    """What a request acts on: a Cedar entity of a type declared in the schema.

    ``attributes`` become the entity's attributes beside ``tenant`` (which Tessera sets from
    ``tenant_id``): strings, integers, booleans and lists of strings only.
    """

    type: str
    id: str
    tenant_id: str
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    """One authorization decision, as the decision log records it: metadata only.

    ``policies`` are the determining policies (the permits that allowed, or the forbids that
    denied; empty for a default deny), each named by its ``@id`` annotation, or else by
    ``<file name>:<Cedar's positional id>``. ``errors`` counts policies whose evaluation failed.
    """

    allowed: bool
    action: str
    resource_type: str
    resource_id: str
    tenant_id: str | None
    client_id: str | None
    policies: tuple[str, ...]
    errors: int
    duration_us: float


def log_decision(decision: Decision) -> None:
    """The default decision log: one ``authz.decision`` event on logger ``tessera.authz``."""
    _log.info(
        "authz.decision",
        decision="allow" if decision.allowed else "deny",
        action=decision.action,
        resource_type=decision.resource_type,
        resource_id=decision.resource_id,
        tenant_id=decision.tenant_id,
        client_id=decision.client_id,
        policies=list(decision.policies),
        errors=decision.errors,
        duration_us=round(decision.duration_us, 1),
    )


class PolicyEngine:
    """Cedar policies and their schema, parsed and validated once; build with :meth:`from_files`."""

    __slots__ = ("_decision_log", "_parsed", "_policies", "_schema")

    def __init__(
        self,
        policies: cedarpy.PolicySet,
        schema: cedarpy.Schema,
        decision_log: Callable[[Decision], None],
    ) -> None:
        # Not validated here: from_files is the way in; it checks what it hands over.
        self._policies: Final = policies
        self._schema: Final = schema
        self._decision_log: Final = decision_log
        # Entity documents already parsed against the schema, by their exact JSON text. Parsing
        # is most of a check's cost (about 55 of 80 µs) and a caller repeats the same principal
        # and resource request after request. The text is the whole key, so a hit is the very
        # document Cedar would parse. Bounded; the oldest entry goes first.
        self._parsed: dict[str, cedarpy.Entities] = {}

    @classmethod
    def from_files(
        cls,
        policies: Path | Sequence[Path],
        schema: Path,
        *,
        actions: Iterable[str] = (),
        decision_log: Callable[[Decision], None] | None = None,
    ) -> PolicyEngine:
        """Read, parse and validate policy files against a schema, or raise ConfigurationError.

        The schema is Cedar schema syntax, or Cedar's JSON schema format when the file name
        ends in ``.json``; it must declare ``User``, ``Tenant`` and ``Role`` as Tessera builds
        them (see the module docstring). Start-up failures, each a ``ConfigurationError``
        naming the file (and the policy, where there is one) with Cedar's error: an unreadable
        file, a policy or schema that does not parse, a policy that fails validation against
        the schema, a template (Tessera links none, so it could grant nothing), two policies
        with the same id, and an action in ``actions`` the schema does not declare.
        """
        paths = (
            [Path(policies)] if isinstance(policies, str | Path) else [Path(p) for p in policies]
        )
        if not paths:
            raise ConfigurationError("name at least one policy file")
        if isinstance(actions, str):
            raise ConfigurationError("actions must be a collection of action names")
        schema_path = Path(schema)
        parsed_schema = load_schema(schema_path)
        static: dict[str, Any] = {}
        origins: dict[str, Path] = {}
        for path in paths:
            for policy_id, policy in load_policies(path, parsed_schema):
                if policy_id in origins:
                    raise ConfigurationError(
                        f"{path}: policy id {policy_id!r} is already used in {origins[policy_id]};"
                        " decision logs must name one policy",
                        file=str(path),
                        policy=policy_id,
                    )
                origins[policy_id] = path
                static[policy_id] = policy
        for action in sorted(set(actions)):
            require_declared_action(action, parsed_schema, schema_path)
        document = {"staticPolicies": static, "templates": {}, "templateLinks": []}
        policy_set = cedarpy.PolicySet.from_json_str(orjson.dumps(document).decode())
        return cls(policy_set, parsed_schema, decision_log or log_decision)

    def check(
        self,
        principal: Principal,
        action: str,
        resource: Resource,
        context: Mapping[str, object] | None = None,
    ) -> Decision:
        """Return the allow :class:`Decision`, or raise; every decision goes to the decision log.

        Raises :class:`~tessera.errors.NotAMember` for a principal whose membership has not
        been checked (nothing is evaluated), :class:`~tessera.errors.PolicyDenied` when no
        permit applies or a forbid does, and ``ConfigurationError`` for a request the schema
        refuses (an undeclared action or resource type, attributes or context of the wrong
        shape): that is a bug in the caller, and it denies too.
        """
        started = time.perf_counter_ns()
        tenant, subject = principal.verified_tenant, principal.subject
        if tenant is None or not subject:
            self._decision_log(_verdict(principal, action, resource, None, started))
            raise NotAMember("membership has not been checked")
        if not isinstance(action, str) or not action:
            raise ConfigurationError("an action is a non-empty name")
        request = {
            "principal": {"type": "User", "id": subject},
            "action": {"type": "Action", "id": action},
            "resource": {"type": resource.type, "id": resource.id},
            "context": _json(_record(context or {}, "context")),
        }
        entities = self._entities_for(_json(_entities(principal, subject, tenant, resource)))
        result = cedarpy.is_authorized(request, self._policies, entities, schema=self._schema)
        decision = _verdict(principal, action, resource, result, started)
        self._decision_log(decision)
        if result.decision is cedarpy.Decision.NoDecision:
            # Cedar's text is not repeated: it quotes the entities, the subject among them.
            raise ConfigurationError(
                "the request does not conform to the policy schema (action, resource type, "
                "attributes or context); it is denied",
                action=action,
                resource_type=resource.type,
            )
        if not decision.allowed:
            if decision.errors:
                reason = "a policy could not be evaluated; denied"
            elif decision.policies:
                reason = "a policy forbids this action"
            else:
                reason = "no policy permits it"
            raise PolicyDenied(
                reason,
                action=action,
                resource_type=resource.type,
                policies=decision.policies,
            )
        return decision

    def _entities_for(self, document: str) -> cedarpy.Entities | str:
        """The parsed entities of ``document``, from the cache or parsed and cached now.

        A document the schema refuses is returned as text, uncached: ``is_authorized`` then
        reports it the usual way (no decision, a ``ConfigurationError`` above).
        """
        parsed = self._parsed.get(document)
        if parsed is not None:
            return parsed
        try:
            parsed = cedarpy.Entities.from_json_str(document, self._schema)
        except ValueError:
            return document
        if len(self._parsed) >= ENTITY_CACHE_SIZE:
            # FIFO, not LRU: no bookkeeping on a hit, and the bound is what matters.
            self._parsed.pop(next(iter(self._parsed)), None)
        self._parsed[document] = parsed
        return parsed

    def __repr__(self) -> str:
        return f"PolicyEngine(policies={len(self._policies)})"


def _verdict(
    principal: Principal,
    action: str,
    resource: Resource,
    result: cedarpy.AuthzResult | None,
    started: int,
) -> Decision:
    diagnostics = result.diagnostics if result is not None else None
    errors = len(diagnostics.errors) if diagnostics is not None else 0
    return Decision(
        # Fail closed: an erroring forbid is skipped by Cedar, but must not let a request through.
        allowed=result is not None and result.allowed and errors == 0,
        action=action,
        resource_type=resource.type,
        resource_id=resource.id,
        tenant_id=principal.verified_tenant,
        client_id=principal.client_id,
        policies=tuple(diagnostics.reasons) if diagnostics is not None else (),
        errors=errors,
        duration_us=(time.perf_counter_ns() - started) / 1000,
    )


def _json(value: object) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        # Only a lone surrogate in some id or string gets here; its value is not repeated.
        raise ConfigurationError("entity or context data is not valid Unicode") from None


def _entities(
    principal: Principal, subject: str, tenant: str, resource: Resource
) -> list[dict[str, Any]]:
    """The request's entities in Cedar's JSON entity format (ids are plain JSON strings)."""
    if not isinstance(resource.type, str) or not resource.type or resource.type in _BUILT_TYPES:
        raise ConfigurationError(
            "a resource type must be declared in the schema and not be one Tessera builds "
            "(User, Tenant, Role, Action)",
            resource_type=str(resource.type),
        )
    if not isinstance(resource.id, str) or not isinstance(resource.tenant_id, str):
        raise ConfigurationError("a resource's id and tenant_id are strings")
    if not resource.tenant_id:
        raise ConfigurationError("a resource belongs to a tenant", resource_type=resource.type)
    attributes = _record(resource.attributes, "resource attribute")
    if "tenant" in attributes:
        raise ConfigurationError(
            "'tenant' is set by Tessera from Resource.tenant_id", resource_type=resource.type
        )
    tenant_uid = uid("Tenant", tenant)
    role_uids = [uid("Role", role) for role in principal.roles]
    user_attrs: dict[str, Any] = {
        "tenant": {"__entity": tenant_uid},
        "roles": list(principal.roles),
        "scopes": list(principal.scopes),
    }
    if principal.client_id is not None:
        # Absent, the attribute is left out: a schema requiring it then refuses the request.
        user_attrs["client_id"] = principal.client_id
    entities: list[dict[str, Any]] = [
        {"uid": uid("User", subject), "attrs": user_attrs, "parents": [tenant_uid, *role_uids]},
        {"uid": tenant_uid, "attrs": {}, "parents": []},
        *({"uid": uid, "attrs": {}, "parents": []} for uid in role_uids),
    ]
    owner_uid = uid("Tenant", resource.tenant_id)
    if resource.tenant_id != tenant:
        entities.append({"uid": owner_uid, "attrs": {}, "parents": []})
    attributes["tenant"] = {"__entity": owner_uid}
    entities.append(
        {"uid": uid(resource.type, resource.id), "attrs": attributes, "parents": [owner_uid]}
    )
    return entities


def _record(values: Mapping[str, object], what: str) -> dict[str, Any]:
    """A Cedar record from a mapping of Cedar values, or ConfigurationError naming the key."""
    if not isinstance(values, Mapping):
        raise ConfigurationError(f"a {what} set must be a mapping")
    record: dict[str, Any] = {}
    for name, value in values.items():
        if not isinstance(name, str):
            raise ConfigurationError(f"a {what} name must be a string")
        record[name] = _value(value, what, name)
    return record


def _value(value: object, what: str, name: str) -> object:
    if isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        if not _LONG_MIN <= value <= _LONG_MAX:
            raise ConfigurationError(f"{what} {name!r} is outside Cedar's 64-bit integer range")
        return value
    if isinstance(value, list | tuple | set | frozenset) and all(isinstance(v, str) for v in value):
        return list(value)
    # Objects with "__entity"/"__extn" keys would be read as entity references or extension
    # values, and floats are not Cedar values at all: only the plain kinds pass.
    raise ConfigurationError(
        f"{what} {name!r} must be a string, an integer, a boolean or a list of strings "
        f"(got {type(value).__name__}; floats are not Cedar values)"
    )
