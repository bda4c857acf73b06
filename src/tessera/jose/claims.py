"""JWT claims: the frozen :class:`Claims` result and the :class:`ClaimsPolicy` (rule 6).

Policy (RFC 7519 §4.1, RFC 9068 §4, RFC 8725 §3.8–3.9), each rule its own error:

- ``iss`` is a string equal to the pinned issuer, byte for byte (no normalization: a
  trailing slash, a prefix or a homoglyph is another issuer);
- ``aud`` is a non-empty string or a non-empty array of strings containing our audience;
- ``exp``, ``nbf``, ``iat`` are JSON numbers (never ``bool``, which Python calls an
  ``int``), finite, within 0 … 9999-12-31; fractions are fine;
- ``exp`` not past, ``nbf`` not future, ``iat`` not future (each ± leeway); ``iat`` not older
  than ``max_age`` when one is set;
- ``sub``, ``jti``, ``client_id``, ``tenant_id``, ``scope`` are strings when present.

Time is a parameter: every check takes ``now`` (seconds since the epoch).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Final

from tessera.errors import (
    ConfigurationError,
    InvalidAudience,
    InvalidClaim,
    InvalidIssuer,
    IssuedInFuture,
    MissingClaim,
    TokenExpired,
    TokenNotYetValid,
    TokenTooOld,
)

__all__ = ["MAX_LEEWAY", "MAX_NUMERIC_DATE", "Claims", "ClaimsPolicy"]

MAX_NUMERIC_DATE: Final = 253402300799  # 9999-12-31T23:59:59Z
MAX_LEEWAY: Final = 120  # DESIGN.md: clock skew tolerated 0–120 s
_STRING_CLAIMS: Final = ("sub", "jti", "client_id", "tenant_id", "scope")
_ALWAYS_REQUIRED: Final = frozenset({"iss", "aud", "exp"})
_ABSENT: Final = object()
_NUMBER: Final = (int, float)


def _freeze(value: Any) -> Any:
    kind = type(value)
    if kind is list:
        return tuple(_freeze(v) for v in value)
    if kind is dict:
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    return value


class Claims(Mapping[str, Any]):
    """The verified claims of a token: a read-only mapping with typed accessors.

    JSON arrays become tuples and objects read-only mappings, so a handler cannot alter
    claims that a verified-token cache shares between requests.
    """

    __slots__ = ("_data", "_scope")

    def __init__(self, data: dict[str, Any]) -> None:
        for name, value in data.items():
            kind = type(value)
            if kind is list or kind is dict:
                data[name] = _freeze(value)
        self._data = data
        self._scope: frozenset[str] | None = None

    @classmethod
    def from_parsed(cls, data: dict[str, Any]) -> Claims:
        """Wrap a payload from :func:`~tessera.jose.strict_json.loads_object`, whose nested
        values are already read-only, without walking it again (the verifier's hot path)."""
        claims = cls.__new__(cls)
        claims._data = data  # noqa: SLF001 - our own class
        claims._scope = None  # noqa: SLF001
        return claims

    def __getitem__(self, name: str) -> Any:
        return self._data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __repr__(self) -> str:
        # Claim names only: values may be personal data and belong in no log.
        return f"Claims(names={sorted(self._data)!r})"

    @property
    def issuer(self) -> str:
        return str(self._data["iss"])

    @property
    def subject(self) -> str | None:
        return self._data.get("sub")

    @property
    def audience(self) -> tuple[str, ...]:
        aud = self._data.get("aud")
        if aud is None:
            return ()
        return (aud,) if isinstance(aud, str) else tuple(aud)

    @property
    def expires_at(self) -> float:
        return float(self._data["exp"])

    @property
    def not_before(self) -> float | None:
        nbf = self._data.get("nbf")
        return None if nbf is None else float(nbf)

    @property
    def issued_at(self) -> float | None:
        iat = self._data.get("iat")
        return None if iat is None else float(iat)

    @property
    def jwt_id(self) -> str | None:
        return self._data.get("jti")

    @property
    def client_id(self) -> str | None:
        return self._data.get("client_id")

    @property
    def tenant_id(self) -> str | None:
        return self._data.get("tenant_id")

    @property
    def scope(self) -> frozenset[str]:
        """Granted scopes: RFC 8693 §4.2 ``scope`` string, or an ``scp`` array (some issuers)."""
        if self._scope is None:
            raw = self._data.get("scope")
            if isinstance(raw, str):
                self._scope = frozenset(raw.split())
            else:
                scp = self._data.get("scp")
                self._scope = (
                    frozenset(s for s in scp if isinstance(s, str))
                    if isinstance(scp, tuple)
                    else frozenset(scp.split())
                    if isinstance(scp, str)
                    else frozenset()
                )
        return self._scope


def _is_number(value: object) -> bool:
    """A finite int or float, never a bool (``True`` would otherwise pass as 1)."""
    return type(value) in (int, float) and math.isfinite(value)  # type: ignore[arg-type]


class ClaimsPolicy:
    """The claim rules for one (issuer, audience) pair."""

    __slots__ = ("audience", "audiences", "issuer", "leeway", "max_age", "required")

    def __init__(
        self,
        *,
        issuer: str,
        audience: str | Collection[str],
        leeway: float = 30,
        max_age: float | None = None,
        required: frozenset[str] = frozenset(),
    ) -> None:
        if not isinstance(issuer, str) or not issuer:
            raise ConfigurationError("issuer must be a non-empty string")
        audiences = frozenset((audience,) if isinstance(audience, str) else audience)
        if not audiences or not all(isinstance(a, str) and a for a in audiences):
            raise ConfigurationError("audience must be a non-empty string (or strings)")
        if not _is_number(leeway) or not 0 <= leeway <= MAX_LEEWAY:
            raise ConfigurationError(f"leeway must be between 0 and {MAX_LEEWAY} seconds")
        if max_age is not None and (not _is_number(max_age) or max_age <= 0):
            raise ConfigurationError("max_age must be a positive number of seconds")
        self.issuer = issuer
        # One audience (the verifier's case) takes a fast path; several: any of them.
        self.audience = next(iter(audiences)) if len(audiences) == 1 else None
        self.audiences = audiences
        self.leeway = leeway
        self.max_age = max_age
        self.required = (
            _ALWAYS_REQUIRED
            | required
            | (frozenset({"iat"}) if max_age is not None else frozenset())
        )

    def check(
        self, claims: Mapping[str, Any], now: float
    ) -> tuple[float, float | None, float | None]:
        """Raise unless ``claims`` pass; return ``(exp, nbf, iat)`` for later re-checks."""
        if not self.required <= claims.keys():
            missing = min(self.required - claims.keys())
            raise MissingClaim(f"{missing} is required", claim=missing)
        iss = claims["iss"]
        if type(iss) is not str or iss != self.issuer:
            raise InvalidIssuer("iss is not the expected issuer")
        aud = claims["aud"]
        if type(aud) is not str or aud != self.audience:
            self._check_audience(aud)
        get = claims.get
        for name in _STRING_CLAIMS:
            value = get(name, _ABSENT)
            if value is not _ABSENT and type(value) is not str:
                raise InvalidClaim(f"{name} must be a string", claim=name)
        # NumericDates inline (this runs for every token): a real int or float, never a
        # bool (Python's bool is an int), within 0 … 9999-12-31; NaN fails the range test.
        exp = claims["exp"]
        if type(exp) not in _NUMBER or not 0 <= exp <= MAX_NUMERIC_DATE:
            raise InvalidClaim("exp must be a NumericDate", claim="exp")
        nbf = get("nbf")
        if nbf is not None and (type(nbf) not in _NUMBER or not 0 <= nbf <= MAX_NUMERIC_DATE):
            raise InvalidClaim("nbf must be a NumericDate", claim="nbf")
        iat = get("iat")
        if iat is not None and (type(iat) not in _NUMBER or not 0 <= iat <= MAX_NUMERIC_DATE):
            raise InvalidClaim("iat must be a NumericDate", claim="iat")
        if (nbf is None and "nbf" in claims) or (iat is None and "iat" in claims):
            raise InvalidClaim("nbf and iat must be numbers, not null")
        self.check_times(exp, nbf, iat, now)
        return exp, nbf, iat

    def _check_audience(self, aud: Any) -> None:
        if type(aud) is str:
            if aud not in self.audiences:
                raise InvalidAudience("token is not for this audience")
            return
        if type(aud) not in (tuple, list) or not aud or any(type(a) is not str for a in aud):
            raise InvalidAudience("aud must be a string or a non-empty array of strings")
        if self.audiences.isdisjoint(aud):
            raise InvalidAudience("token is not for this audience")

    def check_times(self, exp: float, nbf: float | None, iat: float | None, now: float) -> None:
        """The time rules alone: also run on every verified-token cache hit."""
        leeway = self.leeway
        if now - leeway >= exp:  # RFC 7519 §4.1.4: valid only BEFORE exp
            raise TokenExpired("token has expired")
        if nbf is not None and nbf > now + leeway:
            raise TokenNotYetValid("token is not valid yet")
        if iat is not None:
            if iat > now + leeway:
                raise IssuedInFuture("token is issued in the future")
            if self.max_age is not None and now - iat > self.max_age + leeway:
                raise TokenTooOld("token is older than the maximum age")
