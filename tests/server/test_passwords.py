"""argon2id password hashing, the length-only policy, and email normalization.

Small argon2 parameters (8 MiB, t=1, p=1) keep the suite fast; the code paths are the same.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import argon2
import pytest

from tessera.config import Settings
from tessera.errors import InvalidCredentials
from tessera.secret import Secret
from tessera.server.passwords import (
    MAX_EMAIL_LENGTH,
    MAX_PASSWORD_LENGTH,
    PasswordHasher,
    PasswordPolicyError,
    check_password_policy,
    normalize_email,
)

PASSWORD = "correct horse battery staple"
SMALL = {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher(**SMALL)


@pytest.fixture(scope="module")
def stored(hasher) -> str:
    return hasher.hash(Secret(PASSWORD))


# ------------------------------------------------------------------------------ hashing


def test_hash_is_argon2id_with_the_configured_parameters():
    settings = Settings(password_time_cost=2, password_memory_kib=9216, password_parallelism=2)
    phc = PasswordHasher.from_settings(settings).hash(Secret(PASSWORD))
    assert phc.startswith("$argon2id$v=19$m=9216,t=2,p=2$")
    params = argon2.extract_parameters(phc)
    assert params.type is argon2.Type.ID
    assert (params.time_cost, params.memory_cost, params.parallelism) == (2, 9216, 2)


def test_hashes_are_salted(hasher):
    assert hasher.hash(Secret(PASSWORD)) != hasher.hash(Secret(PASSWORD))


def test_right_password_verifies_without_rehash(hasher, stored):
    assert hasher.verify(stored, Secret(PASSWORD)) is None


@pytest.mark.parametrize(
    "attempt", [PASSWORD + "!", PASSWORD.upper(), PASSWORD[:-1], " " + PASSWORD, ""]
)
def test_wrong_password_raises(hasher, stored, attempt):
    with pytest.raises(InvalidCredentials) as caught:
        hasher.verify(stored, Secret(attempt))
    assert caught.value.code == "invalid_credentials"
    assert PASSWORD not in str(caught.value)


def test_unknown_user_raises_the_same_error(hasher):
    with pytest.raises(InvalidCredentials) as caught:
        hasher.verify(None, Secret(PASSWORD))
    assert caught.value.message == "invalid email or password"


@pytest.mark.parametrize(
    "stored_hash",
    ["", "not a hash", "$argon2id$v=19$m=8192,t=1,p=1$AAAA$BBBB", "$2b$12$" + "a" * 53],
)
def test_unreadable_stored_hash_is_a_failed_login(hasher, stored_hash):
    with pytest.raises(InvalidCredentials):
        hasher.verify(stored_hash, Secret(PASSWORD))


def test_bytes_or_overlong_password_is_a_failed_login(hasher, stored):
    with pytest.raises(InvalidCredentials):
        hasher.verify(stored, Secret(PASSWORD.encode()))
    with pytest.raises(InvalidCredentials):
        hasher.verify(stored, Secret("x" * (MAX_PASSWORD_LENGTH + 1)))


def test_rehash_when_parameters_change(stored):
    stronger = PasswordHasher(time_cost=2, memory_kib=9216, parallelism=1)
    upgraded = stronger.verify(stored, Secret(PASSWORD))
    assert upgraded is not None
    assert upgraded.startswith("$argon2id$v=19$m=9216,t=2,p=1$")
    assert stronger.verify(upgraded, Secret(PASSWORD)) is None
    with pytest.raises(InvalidCredentials):
        stronger.verify(upgraded, Secret("wrong password"))


def test_no_rehash_on_a_failed_login(stored):
    stronger = PasswordHasher(time_cost=2, memory_kib=9216, parallelism=1)
    with pytest.raises(InvalidCredentials):
        stronger.verify(stored, Secret("wrong password"))


def test_argon2i_hash_is_upgraded_to_argon2id(hasher):
    legacy = argon2.PasswordHasher(
        time_cost=1, memory_cost=8192, parallelism=1, type=argon2.Type.I
    ).hash(PASSWORD)
    upgraded = hasher.verify(legacy, Secret(PASSWORD))
    assert upgraded is not None
    assert upgraded.startswith("$argon2id$")


def test_password_is_nfkc_normalized(hasher):
    """NIST SP 800-63B §5.1.1.2: one passphrase, whichever way its accents were typed."""
    composed = hasher.hash(Secret("caf\u00e9 au lait"))
    assert hasher.verify(composed, Secret("cafe\u0301 au lait")) is None


def test_unknown_user_takes_comparable_time(hasher, stored):
    """The dummy hash has the same parameters: no cheap 'no such user' answer."""
    known, unknown = [], []
    for _ in range(9):
        for target, times in ((stored, known), (None, unknown)):
            start = time.perf_counter()
            with pytest.raises(InvalidCredentials):
                hasher.verify(target, Secret("wrong password"))
            times.append(time.perf_counter() - start)
    assert statistics.median(unknown) >= 0.5 * statistics.median(known)


def test_repr_shows_parameters_only(hasher):
    assert repr(hasher) == "PasswordHasher(argon2id, t=1, m=8192 KiB, p=1)"


async def test_async_variants_do_not_block_the_event_loop(hasher, stored):
    other_ran = asyncio.Event()

    async def other() -> None:
        other_ran.set()

    verification = asyncio.create_task(hasher.verify_async(stored, Secret(PASSWORD)))
    asyncio.create_task(other())  # noqa: RUF006 - awaited through the event below
    await asyncio.wait_for(other_ran.wait(), 5)
    assert not verification.done()  # argon2 runs in a thread meanwhile
    assert await verification is None
    fresh = await hasher.hash_async(Secret(PASSWORD))
    with pytest.raises(InvalidCredentials):
        await hasher.verify_async(fresh, Secret("wrong password"))
    with pytest.raises(InvalidCredentials):
        await hasher.verify_async(None, Secret(PASSWORD))


# ------------------------------------------------------------------------------- policy


@pytest.mark.parametrize(
    "password",
    [
        "8 chars!",
        "password",  # NIST: length, not composition (breached lists are another layer)
        "        ",
        "\u00e9" * 8,
        "🔑" * 8,
        "x" * MAX_PASSWORD_LENGTH,
    ],
)
def test_policy_accepts(password):
    check_password_policy(Secret(password))


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", "at least 8"),
        ("seven77", "at least 8"),
        ("x" * (MAX_PASSWORD_LENGTH + 1), "at most 1024"),
        ("\ud800" * 8, "must be text"),
    ],
)
def test_policy_refuses_with_a_safe_message(password, message):
    with pytest.raises(PasswordPolicyError) as caught:
        check_password_policy(Secret(password))
    assert isinstance(caught.value, ValueError)
    assert message in str(caught.value)
    if password:
        assert password not in str(caught.value)


def test_policy_refuses_bytes():
    with pytest.raises(PasswordPolicyError):
        check_password_policy(Secret(b"bytes password"))


def test_hash_enforces_the_policy(hasher):
    with pytest.raises(PasswordPolicyError):
        hasher.hash(Secret("short"))


# -------------------------------------------------------------------------------- email


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  Alice@Example.COM \n", "alice@example.com"),
        ("\uff21lice\uff20example.com", "alice@example.com"),  # full-width: NFKC
        ("Stra\u00dfe@example.de", "strasse@example.de"),  # ß casefolds to ss
        ("\u212aelvin@example.com", "kelvin@example.com"),  # KELVIN SIGN
        ("\u00c9mile@example.fr", "\u00e9mile@example.fr"),
        ("E\u0301mile@example.fr", "\u00e9mile@example.fr"),  # decomposed → composed
        ("ΣΟΦΙΑ@example.gr", "σοφια@example.gr"),
    ],
)
def test_normalize_email(given, stored):
    assert normalize_email(given) == stored


def test_normalize_email_is_idempotent():
    once = normalize_email("  \u212aELVIN.Stra\u00dfe@Example.COM")
    assert normalize_email(once) == once


@pytest.mark.parametrize(
    "given",
    [
        "",
        "   ",
        "alice",
        "alice.example.com",
        "alice@@example.com",
        "a@b@example.com",
        "@example.com",
        "alice@",
        "al ice@example.com",
        "alice@exa\tmple.com",
        "alice\x00@example.com",
        "a" * 245 + "@example.com",
    ],
)
def test_normalize_email_refuses(given):
    with pytest.raises(ValueError) as caught:
        normalize_email(given)
    if given.strip():
        assert given.strip() not in str(caught.value)


def test_email_length_limit_is_254():
    local = "a" * (MAX_EMAIL_LENGTH - len("@example.com"))
    assert len(normalize_email(local + "@example.com")) == MAX_EMAIL_LENGTH
    with pytest.raises(ValueError, match="254"):
        normalize_email("a" + local + "@example.com")
