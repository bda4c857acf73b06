"""Scope, audience and lifetime rules shared by the grants (RFC 6749 §3.3, RFC 8707 §2)."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

from tessera.errors import InvalidScope, InvalidTarget
from tessera.keys.schedule import MAX_ACCESS_TOKEN_TTL, MIN_ACCESS_TOKEN_TTL
from tessera.storage.records import Client

__all__ = [
    "access_token_ttl",
    "parse_scope",
    "requested_resource",
    "resolve_audience",
    "resolve_scope",
    "shrink_scope",
]

Form = dict[str, str | list[str]]

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN: Final = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")


def parse_scope(requested: str) -> frozenset[str]:
    """RFC 6749 §3.3: space-delimited tokens of the allowed characters, nothing else."""
    tokens = requested.split(" ")
    if len(requested) > 2048 or any(not _SCOPE_TOKEN.fullmatch(t) for t in tokens):
        raise InvalidScope("scope is malformed")
    return frozenset(tokens)


def requested_resource(form: Form) -> str | None:
    """RFC 8707 §2: at most one ``resource``, an absolute URI without a fragment."""
    resources = form.get("resource") or []
    if isinstance(resources, str):
        resources = [resources]
    if not resources:
        return None
    if len(resources) > 1:
        raise InvalidTarget("request one resource per token")
    resource = resources[0]
    parts = urlsplit(resource)
    if not parts.scheme or parts.fragment or "#" in resource:
        raise InvalidTarget("resource must be an absolute URI without a fragment")
    return resource


def resolve_audience(form: Form, client: Client, *, fallback: str | None = None) -> str:
    """RFC 8707 §2: ``resource`` picks the audience among the client's allowed ones.

    One resource per request (several would mint a token good at several APIs); absent →
    the client's default (its first audience), or ``fallback`` for a client with none.
    """
    resource = requested_resource(form)
    if resource is None:
        if client.audiences:
            return client.audiences[0]
        if fallback is not None:
            return fallback
        raise InvalidTarget("this client has no audience configured")
    if resource not in client.audiences:
        raise InvalidTarget("this client may not obtain tokens for that resource")
    return resource


def resolve_scope(form: Form, client: Client) -> str:
    """RFC 6749 §3.3: requested scopes must be a subset of the client's; absent → all."""
    requested = form.get("scope")
    if requested is None:
        return " ".join(sorted(client.scopes))
    assert isinstance(requested, str)  # noqa: S101 - `scope` is not repeatable
    wanted = parse_scope(requested)
    if not wanted <= client.scopes:
        raise InvalidScope("the requested scope exceeds what this client may have")
    return " ".join(sorted(wanted))


def shrink_scope(form: Form, granted: str) -> str:
    """RFC 6749 §6: a refresh may ask for less than was granted, never more."""
    requested = form.get("scope")
    if requested is None:
        return granted
    assert isinstance(requested, str)  # noqa: S101 - `scope` is not repeatable
    wanted = parse_scope(requested)
    if not wanted <= frozenset(granted.split()):
        raise InvalidScope("the requested scope exceeds the scope originally granted")
    return " ".join(sorted(wanted))


def access_token_ttl(client: Client, default: int) -> int:
    """A client's own lifetime only within DESIGN.md's 1–15 min; otherwise the default."""
    own = client.access_token_ttl
    if own is not None and MIN_ACCESS_TOKEN_TTL <= own <= MAX_ACCESS_TOKEN_TTL:
        return own
    return default
