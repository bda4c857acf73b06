"""Query parameters, parsed strictly: anything malformed is a :class:`BadRequest` (HTTP 400).

Times are ISO 8601 (``2026-03-01``, ``2026-03-01T12:00:00Z``; a time without an offset is
UTC). ``since`` is inclusive, ``until`` exclusive. The pagination cursor is opaque to clients:
base64url of ``[occurred_at µs, id]``, the last row of the previous page. It names only a
position, never a tenant, so a cursor carried to another tenant reveals nothing.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

import orjson

__all__ = ["BadRequest", "Cursor", "EventFilter", "ExportWindow", "decode_cursor", "parse_filter"]

_KIND: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
_MAX_CURSOR: Final = 64
_CURSOR: Final = re.compile(r"[A-Za-z0-9_-]+")
_MIN_TIME: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_TIME: Final = datetime(9999, 1, 1, tzinfo=UTC)
_EPOCH: Final = _MIN_TIME


class BadRequest(Exception):
    """A parameter breaks its rule; ``message`` names the parameter, never repeats its value."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def to_micros(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1)


def from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def parse_time(name: str, raw: str | None) -> datetime | None:
    if raw is None or raw == "":
        return None
    if len(raw) > 40:
        raise BadRequest(f"{name} is too long for an ISO 8601 time")
    try:
        value = (
            datetime.combine(date.fromisoformat(raw), datetime.min.time(), UTC)
            if len(raw) == 10
            else datetime.fromisoformat(raw)
        )
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 date or date-time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    if not _MIN_TIME <= value < _MAX_TIME:
        raise BadRequest(f"{name} is outside 1970-01-01 .. 9999-01-01")
    return value


@dataclass(frozen=True, slots=True)
class EventFilter:
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def parse_filter(kind: str | None, since: str | None, until: str | None) -> EventFilter:
    if kind is not None and kind != "" and _KIND.fullmatch(kind) is None:
        raise BadRequest("kind must be a lower-case event kind such as page_view")
    start = parse_time("since", since)
    end = parse_time("until", until)
    if start is not None and end is not None and start >= end:
        raise BadRequest("since must be before until")
    return EventFilter(kind or None, start, end)


@dataclass(frozen=True, slots=True)
class ExportWindow:
    """The time span an export covers, for the policy's context (Cedar has no floats)."""

    bounded: bool
    span_days: int

    @classmethod
    def of(cls, window: EventFilter) -> ExportWindow:
        if window.since is None or window.until is None:
            return cls(bounded=False, span_days=0)
        days = (window.until - window.since) / timedelta(days=1)
        return cls(bounded=True, span_days=math.ceil(days))

    def as_context(self) -> dict[str, object]:
        return {"bounded": self.bounded, "span_days": self.span_days}


@dataclass(frozen=True, slots=True)
class Cursor:
    occurred_at_us: int
    id: int

    def encode(self) -> str:
        raw = orjson.dumps([self.occurred_at_us, self.id])
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(raw: str | None) -> Cursor | None:
    if raw is None or raw == "":
        return None
    if len(raw) > _MAX_CURSOR or _CURSOR.fullmatch(raw) is None:
        raise BadRequest("cursor is not one this API issued")
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        raise BadRequest("cursor is not one this API issued") from None
    if (
        not isinstance(decoded, list)
        or len(decoded) != 2
        or not all(type(v) is int and 0 <= v < 2**63 for v in decoded)
        or decoded[0] >= to_micros(_MAX_TIME)
    ):
        raise BadRequest("cursor is not one this API issued")
    return Cursor(decoded[0], decoded[1])
