"""User passwords: argon2id hashes, a length-only policy, and normalized emails.

Hashes are argon2id PHC strings (RFC 9106); the parameters travel with each hash, so a
hash made with other parameters verifies and is replaced at that login (``verify`` returns
the new hash). Verification raises :class:`~tessera.errors.InvalidCredentials`; for an
unknown user it does the same work against a dummy hash, so response time does not tell
which emails exist. Argon2 is CPU-bound (~50 ms at the defaults): async callers use
:meth:`PasswordHasher.verify_async` / :meth:`PasswordHasher.hash_async`, which run it in a
thread so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import unicodedata
from typing import TYPE_CHECKING, Final

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from tessera.errors import InvalidCredentials

if TYPE_CHECKING:
    from tessera.config import Settings
    from tessera.secret import Secret

__all__ = [
    "MAX_EMAIL_LENGTH",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "PasswordHasher",
    "PasswordPolicyError",
    "check_password_policy",
    "fold_email",
    "normalize_email",
]

# NIST SP 800-63B §5.1.1.2: at least 8 characters, allow at least 64, no composition rules.
MIN_PASSWORD_LENGTH: Final = 8
# Far above any passphrase; bounds the work an attacker can make one login do.
MAX_PASSWORD_LENGTH: Final = 1024
# RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the angle brackets.
MAX_EMAIL_LENGTH: Final = 254

_WRONG: Final = "invalid email or password"


class PasswordPolicyError(ValueError):
    """The password breaks the policy; the message is safe to show (it never quotes it)."""


def _password_text(password: Secret) -> str:
    """NFKC, as NIST SP 800-63B §5.1.1.2 asks, so one passphrase typed on two keyboards
    (composed or decomposed accents) is one password; refuses what is not UTF-8 text."""
    try:
        text = unicodedata.normalize("NFKC", password.reveal_str())
        text.encode("utf-8")
    except (TypeError, UnicodeError):
        raise PasswordPolicyError("the password must be text") from None
    return text


def check_password_policy(password: Secret) -> None:
    """Refuse a password shorter than 8 or longer than 1024 characters (after NFKC).

    Length only: NIST SP 800-63B §5.1.1.2 advises against composition rules.
    """
    text = _password_text(password)
    if len(text) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
        )
    if len(text) > MAX_PASSWORD_LENGTH:
        raise PasswordPolicyError(
            f"the password must have at most {MAX_PASSWORD_LENGTH} characters"
        )


def fold_email(text: str) -> str:
    """Case- and compatibility-fold an email without validating it.

    NFKC(casefold(NFKC(x))) is Unicode's compatibility caseless form (Unicode §3.13, D146,
    with NFKC for NFKD). Used where every input must be accepted, e.g. throttling keys.
    """
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).strip().casefold())


def normalize_email(text: str) -> str:
    """The stored form of an email: folded (:func:`fold_email`), then checked.

    Raises ValueError (message safe: it does not quote the input) unless the result has
    exactly one ``@`` with something on each side, no whitespace or control characters,
    and at most 254 characters.
    """
    email = fold_email(text)
    if len(email) > MAX_EMAIL_LENGTH:
        raise ValueError(f"an email address has at most {MAX_EMAIL_LENGTH} characters")
    local, at, domain = email.partition("@")
    if not at or "@" in domain or not local or not domain:
        raise ValueError("an email address has exactly one '@' between two non-empty parts")
    if any(ch.isspace() or not ch.isprintable() for ch in email):
        raise ValueError("an email address has no spaces or control characters")
    return email


class PasswordHasher:
    """argon2id with fixed parameters; ``verify`` raises and upgrades outdated hashes."""

    __slots__ = ("_argon2", "_dummy")

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._argon2 = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        # Unknown users are verified against this, with the same parameters: same work.
        self._dummy = self._argon2.hash(secrets.token_bytes(32))

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordHasher:
        return cls(
            time_cost=settings.password_time_cost,
            memory_kib=settings.password_memory_kib,
            parallelism=settings.password_parallelism,
        )

    def hash(self, password: Secret) -> str:
        """The argon2id PHC string of a password that passes :func:`check_password_policy`."""
        check_password_policy(password)
        return self._argon2.hash(_password_text(password).encode("utf-8"))

    def verify(self, stored_hash: str | None, password: Secret) -> str | None:
        """Check ``password`` against ``stored_hash`` (None: the user does not exist).

        Raises :class:`~tessera.errors.InvalidCredentials` on any mismatch, for an unknown
        user (after the same work as for a known one), and for a password too long to be
        one. On success returns a new hash when the stored one was made with other
        parameters (store it), else None.
        """
        try:
            text = _password_text(password)
        except PasswordPolicyError:
            text = ""
        if stored_hash is None or not text or len(text) > MAX_PASSWORD_LENGTH:
            self._spend()
            raise InvalidCredentials(_WRONG)
        candidate = text.encode("utf-8")
        try:
            self._argon2.verify(stored_hash, candidate)
        except (VerificationError, InvalidHashError):
            # VerifyMismatchError is a VerificationError; an unreadable stored hash is a
            # failed login too (logged by the caller as metadata, never the hash).
            raise InvalidCredentials(_WRONG) from None
        if self._argon2.check_needs_rehash(stored_hash):
            return self._argon2.hash(candidate)
        return None

    async def hash_async(self, password: Secret) -> str:
        """:meth:`hash` in a worker thread."""
        return await asyncio.to_thread(self.hash, password)

    async def verify_async(self, stored_hash: str | None, password: Secret) -> str | None:
        """:meth:`verify` in a worker thread."""
        return await asyncio.to_thread(self.verify, stored_hash, password)

    def _spend(self) -> None:
        """Do one verification's work and discard the outcome."""
        with contextlib.suppress(VerificationError):
            self._argon2.verify(self._dummy, b"not the password")

    def __repr__(self) -> str:
        p = self._argon2
        return (
            f"PasswordHasher(argon2id, t={p.time_cost}, m={p.memory_cost} KiB, p={p.parallelism})"
        )
