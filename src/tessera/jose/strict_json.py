"""Strict JSON for JOSE headers and claims (RFC 7515 §4, RFC 8259 §4, RFC 7493 I-JSON).

Python's ``json`` is lenient in ways that matter for tokens, so each is closed here:

- duplicate member names: Python keeps the last one silently → refused (RFC 7515 §4);
- ``NaN``/``Infinity``: Python accepts them (``exp: Infinity`` would never expire) → refused;
- bytes are decoded as UTF-8 explicitly (``json.loads(bytes)`` would guess UTF-16/32),
  and a BOM is refused (RFC 8259 §8.1);
- lone surrogates (``"\\ud800"``) are refused (I-JSON §2.1);
- nesting deeper than :data:`MAX_DEPTH` and integers over CPython's digit limit are
  refused (deep nesting would otherwise exhaust the stack in any recursive consumer);
- the top level must be an object.

Nested values come back read-only: arrays as tuples and objects as mapping proxies, so a
parsed payload can be shared (by a verified-token cache) without being altered. The C
scanner builds each object as a tuple of pairs (``object_pairs_hook=tuple``, no Python
call per object); one pass then builds dicts, refuses duplicates and freezes.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import orjson

from tessera.errors import MalformedToken

__all__ = ["MAX_DEPTH", "dumps_compact", "loads_object"]

MAX_DEPTH: Final = 32
_NESTED: Final = (tuple, list)
_PLAIN_NESTED: Final = (dict, list)
_SPACE_BEFORE_COLON: Final = re.compile(rb'"[ \t\n\r]+:')
_orjson_loads: Final = orjson.loads
_MAX_DOUBLE_INT: Final = int(sys.float_info.max)


def _members(pairs: tuple[tuple[str, Any], ...], depth: int) -> dict[str, Any]:
    """A JSON object's members as a dict with frozen values; duplicates refused."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise MalformedToken("duplicate member name in JSON")
    for name, value in pairs:
        if type(value) in _NESTED:
            obj[name] = _frozen(value, depth + 1)
    return obj


def _frozen(value: tuple[Any, ...] | list[Any], depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise MalformedToken("JSON is nested too deeply")
    if type(value) is tuple:  # an object, as the scanner's tuple of pairs
        return MappingProxyType(_members(value, depth))
    return tuple(_frozen(v, depth + 1) if type(v) in _NESTED else v for v in value)


def _no_constants(_name: str) -> Any:
    raise MalformedToken("NaN and Infinity are not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # e.g. 1e400: not a number a double can hold (I-JSON §2.2)
        raise MalformedToken("number is out of range")
    return value


def _finite_int(text: str) -> int:
    # Same rule as the fast path: an integer a double cannot hold is refused.
    value = int(text)
    if abs(value) > _MAX_DOUBLE_INT:
        raise MalformedToken("number is out of range")
    return value


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=tuple,
    parse_constant=_no_constants,
    parse_float=_finite_float,
    parse_int=_finite_int,
    strict=True,
)
_decode: Final = _DECODER.decode
# The C scanner directly: ``JSONDecoder.decode`` adds two regex whitespace passes that cost
# more than a small claims object takes to parse.
_scan: Final = _DECODER.scan_once  # type: ignore[attr-defined]
_JSON_WS: Final = " \t\n\r"  # RFC 8259 §2: the only insignificant whitespace
# A surrogate escape is the only way to write a lone surrogate in JSON text; raw surrogates
# cannot pass the strict UTF-8 decode. Valid pairs are joined by the decoder, so only
# escapes in D800–DFFF need the slow check.
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")


def loads_object(data: bytes, what: str = "JSON") -> dict[str, Any]:
    """Parse a JSON object from UTF-8 bytes under the rules above.

    Fast path: orjson, which itself refuses NaN/Infinity, lone surrogates, a BOM, invalid
    UTF-8 and out-of-range numbers, but keeps the last of duplicate names. Duplicates are
    excluded by counting: in text without a backslash every ``"`` delimits a string, so
    each member name written ends in ``":`` (whitespace before a colon sends us to the
    exact path); if the ``":`` count equals the members parsed, no name was repeated.
    Anything else — a backslash, a mismatch — is decided by the exact stdlib path below.
    Integers beyond 64 bits come back as floats on the fast path (I-JSON, RFC 7493 §2.2).
    """
    if b"\\" not in data and _SPACE_BEFORE_COLON.search(data) is None:
        try:
            obj = _orjson_loads(data)
        except orjson.JSONDecodeError:
            raise MalformedToken(f"{what} is not valid JSON") from None
        if type(obj) is not dict:
            raise MalformedToken(f"{what} is not a JSON object")
        if data.find(b"[") == -1 and data.find(b"{", 1) == -1:
            if data.count(b'":') == len(obj):
                return obj
        else:
            counter = [0]
            frozen = _freeze_counting(obj, 0, counter)
            if data.count(b'":') == counter[0]:
                return frozen
    return _loads_exact(data, what)


def _freeze_counting(obj: dict[str, Any], depth: int, counter: list[int]) -> dict[str, Any]:
    """Freeze nested values (tuples, mapping proxies) and count every member, at any depth."""
    if depth > MAX_DEPTH:
        raise MalformedToken("JSON is nested too deeply")
    counter[0] += len(obj)
    out = dict(obj)
    for name, value in obj.items():
        if type(value) in _PLAIN_NESTED:
            out[name] = _freeze_value(value, depth + 1, counter)
    return out


def _freeze_value(value: Any, depth: int, counter: list[int]) -> Any:
    if depth > MAX_DEPTH:
        raise MalformedToken("JSON is nested too deeply")
    if type(value) is dict:
        return MappingProxyType(_freeze_counting(value, depth, counter))
    return tuple(
        _freeze_value(v, depth + 1, counter) if type(v) in _PLAIN_NESTED else v for v in value
    )


def _loads_exact(data: bytes, what: str) -> dict[str, Any]:
    """The exact path: stdlib's C scanner building objects as tuples of pairs."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedToken(f"{what} is not UTF-8") from exc
    try:
        if text[:1] == "{":
            obj, end = _scan(text, 0)
        else:
            obj, end = _decode(text), len(text)  # leading whitespace, or not an object
    except (ValueError, RecursionError, StopIteration) as exc:
        # ValueError covers JSONDecodeError, BOMs and integers over the digit limit;
        # StopIteration is the scanner's "no value here". MalformedToken from the hooks
        # is not a ValueError and passes through.
        raise MalformedToken(f"{what} is not valid JSON") from exc
    if end != len(text) and text[end:].strip(_JSON_WS):
        raise MalformedToken(f"{what} has data after the JSON value")
    if type(obj) is not tuple:
        raise MalformedToken(f"{what} is not a JSON object")
    members = dict(obj)
    if len(members) != len(obj):
        raise MalformedToken(f"{what} repeats a member name")
    # Most claim sets hold no array or object: a C-level search skips the freezing pass.
    if text.find("[") != -1 or text.find("{", 1) != -1:
        for name, value in obj:
            if type(value) in _NESTED:
                members[name] = _frozen(value, 1)
    if "\\u" in text and _SURROGATE_ESCAPE.search(text) is not None:
        _reject_lone_surrogates(members, what)
    return members


def _reject_lone_surrogates(value: Any, what: str) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise MalformedToken(f"{what} contains a lone surrogate") from exc
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _reject_lone_surrogates(key, what)
            _reject_lone_surrogates(item, what)
    elif isinstance(value, tuple):
        for item in value:
            _reject_lone_surrogates(item, what)


def _plain(value: Any) -> Any:
    if isinstance(value, MappingProxyType):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps_compact(obj: Mapping[str, Any]) -> bytes:
    """Serialize without whitespace, refusing NaN/Infinity (what we sign, others must parse).

    Accepts the read-only values :func:`loads_object` produces (tuples, mapping proxies).
    """
    return json.dumps(
        obj, separators=(",", ":"), allow_nan=False, ensure_ascii=False, default=_plain
    ).encode("utf-8")
