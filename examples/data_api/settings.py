"""The data API's one settings object, validated when built (the CLI reads the environment).

Every option is documented beside its default. Secrets (a password in a database or Redis
URL) stay out of ``repr``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from examples.data_api.urls import DatabaseUrl

__all__ = ["DEFAULT_POLICIES", "InvalidSettings", "Settings"]

DEFAULT_POLICIES = Path(__file__).resolve().parent / "policies"


class InvalidSettings(ValueError):
    """A setting breaks its rule; the message names the setting and the rule."""


def _positive(name: str, value: float, *, upper: float) -> None:
    if isinstance(value, bool) or not math.isfinite(value) or not 0 < value <= upper:
        raise InvalidSettings(f"{name} must be a number in (0, {upper:g}]")


@dataclass(frozen=True, slots=True)
class Settings:
    database: DatabaseUrl
    """PostgreSQL: the CONFINED API role (not the owner, not a superuser). SQLite: the file."""
    issuer: str
    """The exact ``iss`` of accepted tokens; its discovery document gives the JWKS."""
    audience: str
    """This API's identifier, required in ``aud``."""
    redis_url: str | None = field(default=None, repr=False)
    """Follow the server's revocation feed (revoked tokens refused at once); None: off."""
    policies: Path = DEFAULT_POLICIES
    """A directory of ``*.cedar`` policies and their ``schema.cedarschema``."""
    jwks: Mapping[str, Any] | None = field(default=None, repr=False)
    """Trust this JWKS instead of fetching the issuer's (air-gapped runs and tests)."""
    membership_ttl: float = 5.0
    """Seconds a membership answer is cached. The only bound on SQLite for changes made by
    another process; on PostgreSQL changes arrive by NOTIFY within milliseconds."""
    revocation_max_staleness: float = 30.0
    """Refuse every token (fail closed) when the revocation feed is silent this long."""
    pool_size: int = 8
    """Database connections per process (an export holds one for its whole stream)."""
    export_batch: int = 2_000
    """Rows fetched per round trip while exporting (asyncpg prefetch / SQLite fetchmany)."""
    algorithms: tuple[str, ...] = ("ES256",)
    """The pinned token algorithms (the issuer's signing algorithm)."""

    def __post_init__(self) -> None:
        issuer = urlsplit(self.issuer)
        loopback = issuer.hostname in {"127.0.0.1", "localhost", "::1"}
        if issuer.scheme != "https" and not (issuer.scheme == "http" and loopback):
            raise InvalidSettings("issuer must be an https URL (http only on loopback)")
        if not self.audience or any(c.isspace() for c in self.audience):
            raise InvalidSettings("audience must be a non-empty identifier without spaces")
        if self.redis_url is not None and urlsplit(self.redis_url).scheme not in {
            "redis",
            "rediss",
            "unix",
        }:
            raise InvalidSettings("redis_url must be a redis://, rediss:// or unix:// URL")
        _positive("membership_ttl", self.membership_ttl, upper=300)
        _positive("revocation_max_staleness", self.revocation_max_staleness, upper=3600)
        if isinstance(self.pool_size, bool) or not 1 <= self.pool_size <= 100:
            raise InvalidSettings("pool_size must be an integer in [1, 100]")
        if isinstance(self.export_batch, bool) or not 10 <= self.export_batch <= 100_000:
            raise InvalidSettings("export_batch must be an integer in [10, 100000]")
        if not self.algorithms:
            raise InvalidSettings("algorithms must name at least one algorithm")
