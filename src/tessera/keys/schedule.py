"""The rotation schedule, as a pure function of the stored keys and ``now``.

Rules (DESIGN.md "Defaults"; RFC 7517 §5 and RFC 8725 §3.10 on key rollover):

- a tenant with no active and no pending key gets one that signs at once (first start:
  no verifier can have cached anything yet);
- the next key is published ``publish_lead`` (≥ JWKS max-age + skew) before it signs, so a
  verifier that cached the JWKS for its max-age already knows it when the first token
  signed by it arrives;
- when the next key is created, the keys it replaces are scheduled to stop signing at the
  moment it starts, and to leave the JWKS ``token_lifetime + skew`` later — after every
  token they signed has expired;
- a key is rotated ``rotation_period`` after it started signing.

Nothing here reads a clock or a database; :mod:`tessera.keys.manager` applies the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tessera.errors import ConfigurationError
from tessera.storage.records import KeyState, StoredKey

__all__ = [
    "MAX_ACCESS_TOKEN_TTL",
    "MIN_ACCESS_TOKEN_TTL",
    "CreateKey",
    "RetireKey",
    "RotationPolicy",
    "plan_rotation",
    "retirement_for",
]

DAY = 86400.0
MIN_ACCESS_TOKEN_TTL = 60  # DESIGN.md: access tokens live 1–15 minutes
MAX_ACCESS_TOKEN_TTL = 900


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    rotation_period: float = 30 * DAY
    publish_lead: float = 3600.0
    token_lifetime: float = 900.0
    skew: float = 30.0
    jwks_max_age: float = 300.0
    # How stale a server process's view of the keys may be (its snapshot refresh interval):
    # a process that has not seen the next key yet serves a JWKS without it.
    refresh_interval: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.rotation_period < 90 * DAY:
            raise ConfigurationError("key rotation period must be under 90 days")
        if self.publish_lead < self.jwks_max_age + self.skew + self.refresh_interval:
            raise ConfigurationError(
                "the next key must be published at least JWKS max-age + clock skew + "
                "key refresh interval before use"
            )
        if self.rotation_period <= self.publish_lead + self.token_lifetime + self.skew:
            raise ConfigurationError("key rotation period is shorter than one key's overlap")


@dataclass(frozen=True, slots=True)
class CreateKey:
    activates_at: float


@dataclass(frozen=True, slots=True)
class RetireKey:
    kid: str
    retires_at: float
    removes_at: float


Action = CreateKey | RetireKey


def retirement_for(kid: str, retires_at: float, policy: RotationPolicy) -> RetireKey:
    """Stop signing at ``retires_at``; stay published until its last token has expired."""
    return RetireKey(kid, retires_at, retires_at + policy.token_lifetime + policy.skew)


def plan_rotation(keys: Sequence[StoredKey], now: float, policy: RotationPolicy) -> list[Action]:
    """What to do now so that the tenant always has a signer and a published successor."""
    active = [k for k in keys if k.state(now) is KeyState.ACTIVE]
    pending = [k for k in keys if k.state(now) is KeyState.NEXT]
    if not active and not pending:
        return [CreateKey(activates_at=now)]
    if pending or not active:
        return []  # a successor is already published and waiting
    newest = max(active, key=lambda k: k.activates_at)
    due = newest.activates_at + policy.rotation_period
    if now < due - policy.publish_lead:
        return []
    activates_at = max(now + policy.publish_lead, due)
    return [
        CreateKey(activates_at=activates_at),
        *(
            retirement_for(k.kid, activates_at, policy)
            for k in active
            if k.retires_at is None or k.retires_at > activates_at
        ),
    ]
