"""Validating an authorization request (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1, OIDC Core §3.1.2.1).

Shared by ``/authorize`` and ``/par``. Two phases, because the order decides where an error
may go (RFC 6749 §4.1.2.1, RFC 9700 §4.1.3):

1. :func:`check_client_and_redirect` — ``client_id`` names an enabled client registered
   for the code grant, and ``redirect_uri`` matches one it registered. Until both hold,
   an error must NOT be redirected anywhere: :class:`NotRedirectable` (an error page).
2. :func:`check_request` — everything else, one rule per step; errors from here on go back
   to the (now trusted) redirect URI with ``error``, ``state`` and ``iss`` (RFC 9207).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Final

from tessera.errors import (
    InvalidRequest,
    InvalidRequestUri,
    InvalidScope,
    InvalidTarget,
    ProtocolError,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from tessera.server.client_profile import redirect_uris
from tessera.server.directory import Directory
from tessera.server.grants.scopes import parse_scope
from tessera.server.pkce import check_challenge
from tessera.server.redirects import match_redirect_uri
from tessera.storage.records import Client

__all__ = [
    "AuthorizationRequest",
    "NotRedirectable",
    "check_client_and_redirect",
    "check_request",
]

Params = dict[str, str]
_PROMPTS: Final = frozenset({"none", "login", "consent"})
_MAX_PARAM: Final = 2048
_MAX_AGE: Final = re.compile(r"[0-9]{1,9}")


class NotRedirectable(Exception):
    """The request cannot be answered by a redirect: render ``error`` on a page instead."""

    def __init__(self, error: ProtocolError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A validated request: what the code will be bound to."""

    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    nonce: str | None
    code_challenge: str
    prompt: tuple[str, ...]
    max_age: int | None
    audience: str

    def to_params(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> AuthorizationRequest:
        return cls(**{**params, "prompt": tuple(params.get("prompt", ()))})


async def check_client_and_redirect(
    directory: Directory, tenant_id: str, params: Params
) -> tuple[Client, str]:
    """Phase 1: the client and its redirect URI, or :class:`NotRedirectable`."""
    client_id = params.get("client_id")
    if not client_id:
        raise NotRedirectable(InvalidRequest("client_id is required"))
    client = await directory.client(tenant_id, client_id) if len(client_id) <= 255 else None
    if client is None or client.disabled:
        raise NotRedirectable(InvalidRequest("unknown client"))
    if "authorization_code" not in client.grant_types:
        raise NotRedirectable(UnauthorizedClient("this client may not use the code flow"))
    requested = params.get("redirect_uri")
    if requested is None:
        # OIDC Core §3.1.2.1 requires it; requiring it always keeps one exact rule.
        raise NotRedirectable(InvalidRequest("redirect_uri is required"))
    matched = match_redirect_uri(requested, redirect_uris(client))
    if matched is None:
        raise NotRedirectable(InvalidRequest("redirect_uri is not registered for this client"))
    return client, matched


def check_no_request_object(params: Params) -> None:
    """RFC 9101: request objects are not supported; a stray ``request_uri`` is refused."""
    if "request" in params:
        raise InvalidRequest("request objects are not supported; use PAR")
    if "request_uri" in params:
        raise InvalidRequestUri("request_uri is only accepted from a pushed request")


def check_response_type(params: Params) -> None:
    """OAuth 2.1 §4.1.1: ``code`` only — no implicit (``token``), no hybrid."""
    response_type = params.get("response_type")
    if response_type is None:
        raise InvalidRequest("response_type is required")
    if response_type != "code":
        raise UnsupportedResponseType("only response_type=code is supported")
    if params.get("response_mode", "query") != "query":
        raise InvalidRequest("only response_mode=query is supported")


def check_scope(params: Params, client: Client) -> str:
    """RFC 6749 §3.3: required here, and within what the client registered."""
    raw = params.get("scope")
    if not raw:
        raise InvalidScope("scope is required")
    wanted = parse_scope(raw)
    if not wanted <= client.scopes:
        raise InvalidScope("the requested scope exceeds what this client may have")
    return " ".join(sorted(wanted))


def check_prompt(params: Params) -> tuple[str, ...]:
    """OIDC Core §3.1.2.1: ``none`` stands alone; unknown values are refused."""
    raw = params.get("prompt")
    if raw is None:
        return ()
    values = tuple(sorted(set(raw.split(" "))))
    if not set(values) <= _PROMPTS:
        raise InvalidRequest("unsupported prompt value")
    if "none" in values and len(values) > 1:
        raise InvalidRequest("prompt=none cannot be combined with other values")
    return values


def check_max_age(params: Params) -> int | None:
    raw = params.get("max_age")
    if raw is None:
        return None
    if not _MAX_AGE.fullmatch(raw):
        raise InvalidRequest("max_age must be a non-negative integer")
    return int(raw)


def check_audience(params: Params, client: Client, userinfo: str) -> str:
    """RFC 8707 §2: one registered resource; default the client's first, else userinfo."""
    resource = params.get("resource")
    if resource is None:
        return client.audiences[0] if client.audiences else userinfo
    if resource not in client.audiences:
        raise InvalidTarget("this client may not obtain tokens for that resource")
    return resource


def _bounded(params: Params, name: str) -> str | None:
    value = params.get(name)
    if value is not None and (len(value) > _MAX_PARAM or not value.isprintable()):
        raise InvalidRequest(f"{name} is too long or not printable")
    return value


def check_request(
    client: Client, redirect_uri: str, params: Params, *, userinfo: str
) -> AuthorizationRequest:
    """Phase 2; raises a :class:`ProtocolError` to be sent to ``redirect_uri``."""
    check_no_request_object(params)
    check_response_type(params)
    challenge = check_challenge(params.get("code_challenge"), params.get("code_challenge_method"))
    return AuthorizationRequest(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        scope=check_scope(params, client),
        state=_bounded(params, "state"),
        nonce=_bounded(params, "nonce"),
        code_challenge=challenge,
        prompt=check_prompt(params),
        max_age=check_max_age(params),
        audience=check_audience(params, client, userinfo),
    )
