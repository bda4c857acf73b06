"""Typed secrets and the one constant-time comparison every secret goes through.

A :class:`Secret` never shows its value in ``repr``/``str`` (so it cannot leak through a log
line, a traceback or an f-string by accident); the value is reached only through
:meth:`Secret.reveal`, a name that is easy to grep for in review.
"""

from __future__ import annotations

import hmac
from typing import Final

__all__ = ["Secret", "constant_time_equals"]

_REDACTED: Final = "**********"


def constant_time_equals(a: bytes | str, b: bytes | str) -> bool:
    """Compare two secrets in time independent of where they differ.

    Strings are compared as UTF-8 bytes (``hmac.compare_digest`` refuses non-ASCII ``str``).
    """
    if isinstance(a, str):
        a = a.encode("utf-8")
    if isinstance(b, str):
        b = b.encode("utf-8")
    return hmac.compare_digest(a, b)


class Secret:
    """A secret value whose textual forms are redacted."""

    __slots__ = ("_value",)

    def __init__(self, value: str | bytes) -> None:
        self._value = value

    def reveal(self) -> str | bytes:
        """Return the raw value. Call only where the secret is used, never to log or display."""
        return self._value

    def reveal_str(self) -> str:
        """The raw value as text (refuses a bytes secret rather than printing ``b'...'``)."""
        if not isinstance(self._value, str):
            raise TypeError("this secret is bytes, not text")
        return self._value

    def equals(self, other: str | bytes | Secret) -> bool:
        """Constant-time comparison with another secret or raw value."""
        raw = other.reveal() if isinstance(other, Secret) else other
        return constant_time_equals(self._value, raw)

    def __eq__(self, other: object) -> bool:
        # `==` on secrets is a timing leak waiting to happen; force callers to `equals`.
        raise TypeError("compare secrets with Secret.equals(), which is constant-time")

    def __hash__(self) -> int:
        raise TypeError("secrets are not hashable; do not use them as dict keys")

    def __repr__(self) -> str:
        return f"Secret({_REDACTED!r})"

    def __str__(self) -> str:
        return _REDACTED

    def __bool__(self) -> bool:
        return bool(self._value)
