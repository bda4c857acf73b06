"""The rotation plan as a pure function: no clock, no database (tessera.keys.schedule)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.errors import ConfigurationError
from tessera.keys.schedule import (
    DAY,
    CreateKey,
    RetireKey,
    RotationPolicy,
    plan_rotation,
    retirement_for,
)
from tessera.storage.records import KeyState, StoredKey

T0 = 1_800_000_000.0
POLICY = RotationPolicy()  # 30 days, lead 3600 s, lifetime 900 s, skew 30 s, max-age 300 s


def key(kid: str, activates_at: float, **kw) -> StoredKey:
    fields = {
        "tenant_id": "default",
        "kid": kid,
        "alg": "ES256",
        "public_jwk": {"kty": "EC", "kid": kid},
        "sealed_private": b"sealed",
        "created_at": activates_at,
        "activates_at": activates_at,
    }
    return StoredKey(**fields | kw)


def apply(keys: list[StoredKey], actions, now: float, counter: list[int]) -> list[StoredKey]:
    """What KeyManager._apply does, on a list."""
    by_kid = {k.kid: k for k in keys}
    for action in actions:
        if isinstance(action, CreateKey):
            counter[0] += 1
            kid = f"k{counter[0]}"
            by_kid[kid] = key(kid, action.activates_at, created_at=now)
        else:
            by_kid[action.kid] = dataclasses.replace(
                by_kid[action.kid], retires_at=action.retires_at, removes_at=action.removes_at
            )
    return list(by_kid.values())


# ------------------------------------------------------------------------ first key


def test_no_keys_creates_one_that_signs_at_once():
    assert plan_rotation([], T0, POLICY) == [CreateKey(activates_at=T0)]


def test_only_retired_keys_creates_one_that_signs_at_once():
    gone = key("old", T0 - 40 * DAY, retires_at=T0 - 10 * DAY, removes_at=T0 - 9 * DAY)
    assert plan_rotation([gone], T0, POLICY) == [CreateKey(activates_at=T0)]


def test_fresh_active_key_needs_nothing():
    assert plan_rotation([key("k1", T0)], T0 + 1, POLICY) == []
    assert plan_rotation([key("k1", T0)], T0 + 10 * DAY, POLICY) == []


# ----------------------------------------------------------------- pending successor


def test_no_action_while_a_next_key_exists():
    current = key("k1", T0, retires_at=T0 + 30 * DAY, removes_at=T0 + 30 * DAY + 930)
    pending = key("k2", T0 + 30 * DAY, created_at=T0 + 30 * DAY - 3600)
    for now in (T0 + 30 * DAY - 3600, T0 + 30 * DAY - 1, T0 + 30 * DAY - 0.001):
        assert pending.state(now) is KeyState.NEXT
        assert plan_rotation([current, pending], now, POLICY) == []


def test_no_action_while_a_next_key_exists_even_if_overdue():
    # A successor is already published and waiting; a second one would only churn the JWKS.
    current = key("k1", T0)
    pending = key("k2", T0 + 80 * DAY)
    assert plan_rotation([current, pending], T0 + 60 * DAY, POLICY) == []


# --------------------------------------------------------------------- rotation due


def test_nothing_before_due_minus_lead():
    due = T0 + POLICY.rotation_period
    assert plan_rotation([key("k1", T0)], due - POLICY.publish_lead - 0.001, POLICY) == []


def test_rotation_planned_publish_lead_before_due():
    due = T0 + POLICY.rotation_period
    now = due - POLICY.publish_lead
    actions = plan_rotation([key("k1", T0)], now, POLICY)
    assert actions == [
        CreateKey(activates_at=due),
        RetireKey("k1", retires_at=due, removes_at=due + POLICY.token_lifetime + POLICY.skew),
    ]


@pytest.mark.parametrize("late", [0.0, 1.0, 3599.0, 3600.0, 7 * DAY])
def test_late_rotation_still_publishes_for_the_full_lead(late):
    """A process that was down past the due time must not start signing with an unseen key."""
    due = T0 + POLICY.rotation_period
    now = due + late
    create, retire = plan_rotation([key("k1", T0)], now, POLICY)
    assert isinstance(create, CreateKey)
    assert create.activates_at >= now + POLICY.publish_lead
    assert create.activates_at == max(due, now + POLICY.publish_lead)
    assert retire == RetireKey(
        "k1",
        retires_at=create.activates_at,
        removes_at=create.activates_at + POLICY.token_lifetime + POLICY.skew,
    )


def test_rotation_measured_from_the_newest_active_key():
    older = key("k1", T0 - 20 * DAY, retires_at=T0 + 1 * DAY, removes_at=T0 + 2 * DAY)
    newest = key("k2", T0)
    now = T0 + 25 * DAY  # k1 would be due, k2 is not
    assert plan_rotation([older, newest], now, POLICY) == []


def test_key_already_retiring_before_the_switch_is_not_rescheduled():
    due = T0 + POLICY.rotation_period
    now = due - POLICY.publish_lead
    early = key("k0", T0 - 1, retires_at=due - 10, removes_at=due + 1000)
    actions = plan_rotation([early, key("k1", T0)], now, POLICY)
    retired = {a.kid for a in actions if isinstance(a, RetireKey)}
    assert retired == {"k1"}


def test_retirement_for_keeps_the_key_until_its_tokens_expired():
    policy = RotationPolicy(token_lifetime=600, skew=45)
    assert retirement_for("k", 1000.0, policy) == RetireKey("k", 1000.0, 1645.0)


# ------------------------------------------------------------------- policy limits


@pytest.mark.parametrize("days", [90, 90.0001, 365, 0, -1])
def test_policy_refuses_rotation_of_90_days_or_more_or_not_positive(days):
    with pytest.raises(ConfigurationError, match="rotation period"):
        RotationPolicy(rotation_period=days * DAY)


def test_policy_accepts_just_under_90_days():
    RotationPolicy(rotation_period=90 * DAY - 1)


def test_policy_refuses_publish_lead_below_max_age_plus_skew():
    with pytest.raises(ConfigurationError, match="max-age"):
        RotationPolicy(publish_lead=329, jwks_max_age=300, skew=30)
    RotationPolicy(publish_lead=330, jwks_max_age=300, skew=30)


def test_policy_refuses_period_shorter_than_one_overlap():
    # lead 3600 + lifetime 900 + skew 30 = 4530 s of overlap
    with pytest.raises(ConfigurationError, match="rotation period"):
        RotationPolicy(rotation_period=4530)
    RotationPolicy(rotation_period=4531)


# ------------------------------------------------------------ the plan, over time

policies = st.builds(
    lambda max_age, skew, extra_lead, lifetime, extra_period: RotationPolicy(
        rotation_period=max_age + skew + extra_lead + lifetime + skew + extra_period,
        publish_lead=max_age + skew + extra_lead,
        token_lifetime=lifetime,
        skew=skew,
        jwks_max_age=max_age,
    ),
    st.integers(0, 3600),
    st.integers(0, 120),
    st.integers(0, 3600),
    st.integers(60, 900),
    st.integers(1, 20000),
)


@settings(max_examples=60, deadline=None)
@given(policy=policies, steps=st.lists(st.integers(1, 4000), min_size=20, max_size=120))
def test_plan_applied_over_time_keeps_every_invariant(policy, steps):
    """Applied at arbitrary instants, the plan always leaves exactly one signer; every key but
    the first is published ``publish_lead`` before it signs; a replaced key stays published
    ``token_lifetime + skew`` after it stopped signing."""
    counter = [0]
    now = T0
    keys = apply([], plan_rotation([], now, policy), now, counter)
    for step in steps:
        now += step
        keys = apply(keys, plan_rotation(keys, now, policy), now, counter)
        active = [k for k in keys if k.state(now) is KeyState.ACTIVE]
        assert len(active) == 1, (now, keys)
        pending = [k for k in keys if k.state(now) is KeyState.NEXT]
        assert len(pending) <= 1
    for k in keys:
        if k.kid != "k1":
            assert k.activates_at - k.created_at >= policy.publish_lead
        if k.retires_at is not None:
            assert k.removes_at - k.retires_at == policy.token_lifetime + policy.skew
            successor = [s for s in keys if s.activates_at == k.retires_at and s.kid != k.kid]
            assert successor, f"{k.kid} stops signing with no successor"
