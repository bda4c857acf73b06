"""Strict JSON for JOSE headers and claims (RFC 7515 §4, RFC 8259 §4, RFC 7493 I-JSON).

Python's ``json`` is lenient in ways that matter for tokens, so each is closed here:

- duplicate member names: Python keeps the last one silently → refused (RFC 7515 §4);
- ``NaN``/``Infinity``: Python accepts them (``exp: Infinity`` would never expire) → refused;
- bytes are decoded as UTF-8 explicitly (``json.loads(bytes)`` would guess UTF-16/32),
  and a BOM is refused (RFC 8259 §8.1);
- lone surrogates (``"\\ud800"``) are refused (I-JSON §2.1);
- deep nesting (``RecursionError``) and integers over CPython's digit limit are refused;
- the top level must be an object.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from tessera.errors import MalformedToken

__all__ = ["dumps_compact", "loads_object"]


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise MalformedToken("duplicate member name in JSON")
    return obj


def _no_constants(_name: str) -> Any:
    raise MalformedToken("NaN and Infinity are not JSON")


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_no_duplicates,
    parse_constant=_no_constants,
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
    """Parse a JSON object from UTF-8 bytes under the rules above."""
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
    if type(obj) is not dict:
        raise MalformedToken(f"{what} is not a JSON object")
    if "\\u" in text and _SURROGATE_ESCAPE.search(text) is not None:
        _reject_lone_surrogates(obj, what)
    return obj


def _reject_lone_surrogates(value: Any, what: str) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise MalformedToken(f"{what} contains a lone surrogate") from exc
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_lone_surrogates(key, what)
            _reject_lone_surrogates(item, what)
    elif isinstance(value, list):
        for item in value:
            _reject_lone_surrogates(item, what)


def dumps_compact(obj: dict[str, Any]) -> bytes:
    """Serialize without whitespace, refusing NaN/Infinity (what we sign, others must parse)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode(
        "utf-8"
    )
