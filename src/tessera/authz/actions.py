"""Least privilege: scopes map to actions, and an endpoint names the one action it needs.

A :class:`ScopeMap` is the single place that says what each scope allows::

    scope_map = ScopeMap({"data:read": {"data.list", "data.aggregate"},
                          "data:export": {"data.export"}})
    require_action(principal, "data.export", scope_map)   # raises ActionNotAllowed

An endpoint never tests scopes itself: adding an action to a scope is a change here, reviewed
once, not a hunt through handlers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from tessera.authz.principal import Principal
from tessera.errors import ActionNotAllowed, ConfigurationError, NotAMember

__all__ = ["ScopeMap", "require_action"]


def _is_name(value: object) -> bool:
    return isinstance(value, str) and bool(value) and not any(c.isspace() for c in value)


class ScopeMap:
    """Which actions each scope grants (read-only once built)."""

    __slots__ = ("_actions", "_by_scope")

    def __init__(self, mapping: Mapping[str, Iterable[str]]) -> None:
        by_scope: dict[str, frozenset[str]] = {}
        for scope, actions in mapping.items():
            if not _is_name(scope):
                raise ConfigurationError("a scope must be a non-empty token without spaces")
            if isinstance(actions, str):
                # A bare string would be read as a set of one-letter actions.
                raise ConfigurationError("a scope's actions must be a collection of names")
            granted = frozenset(actions)
            if not granted or not all(_is_name(a) for a in granted):
                raise ConfigurationError(
                    "each scope must grant at least one non-empty action name", scope=scope
                )
            by_scope[scope] = granted
        if not by_scope:
            raise ConfigurationError("a scope map needs at least one scope")
        self._by_scope = MappingProxyType(by_scope)
        self._actions = frozenset().union(*by_scope.values())

    @property
    def actions(self) -> frozenset[str]:
        """Every action some scope grants."""
        return self._actions

    def actions_for(self, scopes: Iterable[str]) -> frozenset[str]:
        """The actions granted by ``scopes`` (unknown scopes grant nothing)."""
        by_scope = self._by_scope
        return frozenset().union(*(by_scope.get(s, frozenset()) for s in scopes))

    def scopes_for(self, action: str) -> frozenset[str]:
        """The scopes any one of which grants ``action`` (for a 403's ``scope`` hint)."""
        return frozenset(s for s, granted in self._by_scope.items() if action in granted)

    def __repr__(self) -> str:
        return f"ScopeMap(scopes={sorted(self._by_scope)!r})"


def require_action(principal: Principal, action: str, scope_map: ScopeMap) -> None:
    """Raise unless one of the principal's scopes grants ``action``; return nothing.

    The principal must have passed the membership check first (``NotAMember`` otherwise):
    scopes are checked on a verified principal only, so skipping that step fails closed.
    An action no scope grants is a misdeclared endpoint, not a refusal: ``ConfigurationError``.
    """
    if action not in scope_map.actions:
        raise ConfigurationError("no scope grants this action", action=action)
    if principal.verified_tenant is None:
        raise NotAMember("membership has not been checked")
    if action not in scope_map.actions_for(principal.scopes):
        raise ActionNotAllowed("no granted scope allows this action", action=action)
