"""Issuing JWTs: claims serialized compactly and signed as a compact JWS (RFC 7519 §7.1)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tessera.errors import SigningError
from tessera.jose.jws import sign_compact
from tessera.jose.strict_json import dumps_compact

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tessera.jose.jwk import SigningKey, SymmetricKey

__all__ = ["encode_jwt"]


def encode_jwt(
    claims: Mapping[str, Any],
    key: SigningKey | SymmetricKey,
    *,
    typ: str = "at+jwt",
    extra_header: Mapping[str, Any] | None = None,
) -> str:
    """Sign ``claims`` with ``key``. ``typ`` defaults to RFC 9068's access-token type."""
    try:
        payload = dumps_compact(dict(claims))
    except (TypeError, ValueError) as exc:
        raise SigningError("claims are not serializable as strict JSON") from exc
    return sign_compact(payload, key, typ=typ, extra_header=extra_header)
