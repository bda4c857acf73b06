"""Reading Cedar policy and schema files at start-up, and refusing what cannot work.

Everything here runs once, in :meth:`~tessera.authz.policy.PolicyEngine.from_files`; a failure is a
:class:`~tessera.errors.ConfigurationError` naming the file (and the policy, where there is one)
with Cedar's own error, so a bad deployment stops at start-up with a message an operator can act
on. The schema must declare the entity types Tessera builds per request (``User``, ``Tenant``,
``Role``); each is probed against the schema with the exact shape Tessera will send.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import cedarpy
import orjson

from tessera.errors import ConfigurationError

__all__ = ["load_policies", "load_schema", "require_declared_action", "uid"]


def uid(entity_type: str, entity_id: str) -> dict[str, str]:
    """A Cedar entity reference in JSON form (ids stay plain JSON strings, never policy text)."""
    return {"type": entity_type, "id": entity_id}


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigurationError(f"{path}: cannot read the {what} file: {reason}") from None


def load_schema(path: Path) -> cedarpy.Schema:
    text = _read(path, "schema")
    try:
        schema = (
            cedarpy.Schema.from_json_str(text)
            if path.suffix == ".json"
            else cedarpy.Schema.from_str(text)
        )
    except ValueError as exc:
        raise ConfigurationError(f"{path}: the Cedar schema does not parse: {exc}") from None
    _check_entity_model(schema, path)
    return schema


# What Tessera builds per request, as probes the schema must accept (in dependency order).
_TENANT: Final = {"uid": uid("Tenant", "t"), "attrs": {}, "parents": []}
_ROLE: Final = {"uid": uid("Role", "r"), "attrs": {}, "parents": []}
_USER: Final = {
    "uid": uid("User", "u"),
    "attrs": {
        "tenant": {"__entity": uid("Tenant", "t")},
        "roles": ["r"],
        "scopes": ["s"],
        "client_id": "c",
    },
    "parents": [uid("Tenant", "t"), uid("Role", "r")],
}
_MODEL: Final = (
    ("Tenant", [_TENANT], "entity Tenant;"),
    ("Role", [_ROLE], "entity Role;"),
    (
        "User",
        [_TENANT, _ROLE, _USER],
        (
            "entity User in [Tenant, Role] { tenant: Tenant, roles: Set<String>, "
            "scopes: Set<String>, client_id?: String };"
        ),
    ),
)


def _check_entity_model(schema: cedarpy.Schema, path: Path) -> None:
    """The schema must declare the entity types Tessera builds, with the shapes it builds."""
    for name, probe, declaration in _MODEL:
        try:
            cedarpy.Entities.from_json_str(orjson.dumps(probe).decode(), schema)
        except ValueError as exc:
            raise ConfigurationError(
                f"{path}: the schema must declare entity type {name} as Tessera builds it "
                f"({declaration}); Cedar: {exc}",
                entity_type=name,
            ) from None


def load_policies(path: Path, schema: cedarpy.Schema) -> list[tuple[str, Any]]:
    """One file's policies, validated: (Tessera id, the policy in Cedar's JSON form) pairs."""
    text = _read(path, "policy")
    try:
        document = orjson.loads(cedarpy.policies_to_json_str(text))
    except ValueError as exc:
        raise ConfigurationError(f"{path}: Cedar policy parse error: {exc}") from None
    templates = document.get("templates") or {}
    if templates:
        first = next(iter(templates))
        raise ConfigurationError(
            f"{path}: policy {_name(first, templates[first])} is a template "
            "(?principal/?resource): Tessera links none, so it could never grant anything",
            policy=first,
        )
    result = cedarpy.validate_policies(text, schema)
    if not result.validation_passed:
        ids = result.id_annotations_by_policy_id
        lines = [
            f"{path}: policy {_label(e.policy_id, ids.get(e.policy_id))}: {e.error}"
            for e in result.errors
        ] or [f"{path}: the policies fail validation against the schema"]
        first_id = result.errors[0].policy_id if result.errors else ""
        raise ConfigurationError(
            "policy validation failed:\n" + "\n".join(lines),
            file=str(path),
            policy=ids.get(first_id) or first_id,
        )
    static: dict[str, Any] = document.get("staticPolicies") or {}
    return [
        ((policy.get("annotations") or {}).get("id") or f"{path.name}:{local_id}", policy)
        for local_id, policy in static.items()
    ]


def _name(local_id: str, policy: Mapping[str, Any]) -> str:
    return _label(local_id, (policy.get("annotations") or {}).get("id"))


def _label(local_id: str, annotation: str | None) -> str:
    return f"{annotation!r} ({local_id})" if annotation else local_id


def require_declared_action(action: object, schema: cedarpy.Schema, path: Path) -> None:
    """``action`` is declared in the schema and applies to some principal and resource."""
    if not isinstance(action, str) or not action:
        raise ConfigurationError("an action is a non-empty name")
    # Built as Cedar JSON and printed by Cedar: the name is never spliced into policy text.
    probe = {
        "effect": "permit",
        "principal": {"op": "All"},
        "action": {"op": "==", "entity": uid("Action", action)},
        "resource": {"op": "All"},
        "conditions": [],
    }
    document = {"staticPolicies": {"probe": probe}, "templates": {}, "templateLinks": []}
    text = cedarpy.policies_from_json_str(orjson.dumps(document).decode())
    result = cedarpy.validate_policies(text, schema)
    if not result.validation_passed:
        cedar = "; ".join(e.error for e in result.errors)
        raise ConfigurationError(
            f"{path}: action {action!r} is not declared in the schema, or applies to no "
            f"principal and resource; Cedar: {cedar}",
            action=action,
        )
