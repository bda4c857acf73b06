"""What a client registered for the user flows, read from its metadata.

Kept in :attr:`Client.metadata` (JSON) so the client table needs no column per option:
``redirect_uris``, ``post_logout_redirect_uris``, ``first_party`` (consent is skipped),
``require_par`` (RFC 9126 §5: only pushed requests at ``/authorize``).
"""

from __future__ import annotations

from tessera.storage.records import Client

__all__ = [
    "is_first_party",
    "is_public",
    "post_logout_redirect_uris",
    "redirect_uris",
    "requires_par",
]


def _strings(client: Client, name: str) -> tuple[str, ...]:
    value = client.metadata.get(name)
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def redirect_uris(client: Client) -> tuple[str, ...]:
    return _strings(client, "redirect_uris")


def post_logout_redirect_uris(client: Client) -> tuple[str, ...]:
    return _strings(client, "post_logout_redirect_uris")


def is_first_party(client: Client) -> bool:
    return client.metadata.get("first_party") is True


def requires_par(client: Client) -> bool:
    return client.metadata.get("require_par") is True


def is_public(client: Client) -> bool:
    """A public client (RFC 6749 §2.1) cannot keep a secret; PKCE is its only proof."""
    return client.auth_method == "none"
