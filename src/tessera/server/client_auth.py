"""Client authentication at the token, introspection and revocation endpoints.

Check steps, in order:

1. ``one_method`` — a client uses exactly one authentication method (RFC 6749 §2.3);
2. ``parse_basic`` — HTTP Basic credentials are form-url-encoded id and secret (§2.3.1);
3. ``registered_method`` — the method used is the one the client registered
   (RFC 7591 §2 ``token_endpoint_auth_method``): a ``client_secret_basic`` client cannot
   authenticate with ``client_secret_post``;
4. ``secret_matches`` — constant-time comparison of keyed hashes; unknown and disabled
   clients take the same path, so timing does not tell them apart.

A public client (``none``) sends only ``client_id`` (RFC 6749 §2.3, §3.2.1) and is accepted
only where the endpoint allows it (the token endpoint's user grants, PAR); it proves nothing,
so PKCE and the binding of codes and refresh tokens to it are what protect it.

Every failure is ``invalid_client`` (401) and an audit event ``client.auth_failed``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final
from urllib.parse import unquote_plus

from starlette.datastructures import Headers

from tessera.errors import InvalidClient, InvalidRequest
from tessera.identifiers import CLIENT_ID
from tessera.logging import Audit
from tessera.server.client_secrets import SecretHasher
from tessera.server.directory import Directory
from tessera.server.forms import single
from tessera.storage.records import Client

__all__ = ["authenticate_client"]

_MAX_ID_CHARS: Final = 255


def _parse_basic(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise InvalidClient("unsupported authorization scheme")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # ValueError: non-ASCII input; UnicodeDecodeError
        raise InvalidClient("malformed basic credentials") from None
    raw_id, sep, raw_secret = decoded.partition(":")
    if not sep:
        raise InvalidClient("malformed basic credentials")
    # RFC 6749 §2.3.1: both parts are application/x-www-form-urlencoded first.
    return unquote_plus(raw_id, errors="strict"), unquote_plus(raw_secret, errors="strict")


def _credentials(
    authorization: str | None, form_id: str | None, form_secret: str | None
) -> tuple[str, str, str]:
    """Steps 1–2: the one method used, and its client id and secret."""
    if authorization is not None and form_secret is not None:
        raise InvalidRequest("use exactly one client authentication method")
    if authorization is not None:
        try:
            client_id, secret = _parse_basic(authorization)
        except UnicodeDecodeError:
            raise InvalidClient("malformed basic credentials") from None
        if form_id is not None and form_id != client_id:
            raise InvalidClient("client_id does not match the credentials")
        method = "client_secret_basic"
    elif form_secret is not None:
        if form_id is None:
            raise InvalidClient("client_id is required with client_secret")
        method, client_id, secret = "client_secret_post", form_id, form_secret
    else:
        raise InvalidClient("client authentication is required")
    if not client_id or len(client_id) > _MAX_ID_CHARS:
        raise InvalidClient("client authentication failed")
    return method, client_id, secret


async def _public_client(
    tenant_id: str, client_id: str, directory: Directory, audit: Audit
) -> Client:
    """RFC 6749 §2.1: a registered, enabled client whose method is ``none``."""
    client = (
        await directory.client(tenant_id, client_id) if CLIENT_ID.fullmatch(client_id) else None
    )
    if client is None or client.disabled or client.auth_method != "none":
        audit.emit(
            "client.auth_failed",
            tenant_id=tenant_id,
            client_id=_safe_id(client_id),
            auth_method="none",
            reason="not_a_public_client",
        )
        raise InvalidClient("client authentication failed")
    return client


def _safe_id(client_id: str | None) -> str | None:
    """A client id fit for an audit line (attacker-supplied: short, printable only)."""
    if client_id and len(client_id) <= 64 and client_id.isprintable():
        return client_id
    return None


async def authenticate_client(
    *,
    tenant_id: str,
    headers: Headers,
    form: dict[str, str | list[str]],
    directory: Directory,
    hasher: SecretHasher,
    audit: Audit,
    allow_public: bool = False,
) -> Client:
    """Return the authenticated client or raise :class:`InvalidClient`."""
    form_id = single(form, "client_id")
    if "client_assertion" in form or "client_assertion_type" in form:
        raise InvalidClient("private_key_jwt is not enabled for this server")
    if (
        allow_public
        and form_id is not None
        and "authorization" not in headers
        and "client_secret" not in form
    ):
        return await _public_client(tenant_id, form_id, directory, audit)
    try:
        method, client_id, secret = _credentials(
            headers.get("authorization"), form_id, single(form, "client_secret")
        )
    except InvalidClient:
        audit.emit(
            "client.auth_failed",
            tenant_id=tenant_id,
            client_id=_safe_id(form_id),
            reason="malformed",
        )
        raise

    # An id that cannot have been registered is not looked up (the hash is still computed).
    client = (
        await directory.client(tenant_id, client_id) if CLIENT_ID.fullmatch(client_id) else None
    )
    stored = client.secret_hash if client is not None else None
    matches = hasher.verify(secret, stored)  # always computed: no timing oracle
    reason = None
    if client is None:
        reason = "unknown_client"
    elif client.disabled:
        reason = "disabled"
    elif client.auth_method != method:
        reason = "method_not_registered"
    elif not matches:
        reason = "bad_secret"
    if reason is not None or client is None:
        audit.emit(
            "client.auth_failed",
            tenant_id=tenant_id,
            client_id=_safe_id(client_id),
            auth_method=method,
            reason=reason,
        )
        raise InvalidClient("client authentication failed")
    return client
