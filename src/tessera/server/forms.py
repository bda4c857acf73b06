"""Strict reading of ``application/x-www-form-urlencoded`` request bodies (RFC 6749 §3.2)."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qsl

from starlette.requests import Request

from tessera.errors import InvalidRequest

__all__ = ["MAX_FORM_BYTES", "read_form"]

MAX_FORM_BYTES: Final = 16 * 1024
_MAX_FIELDS: Final = 64
_BAD_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Parameters that may legitimately repeat (RFC 8707 §2 `resource`).
_REPEATABLE: Final = frozenset({"resource"})


async def read_form(request: Request) -> dict[str, str | list[str]]:
    """Parse the body; refuse other media types, oversize bodies and repeated parameters.

    - RFC 6749 §3.2: the token endpoint takes form-encoded POST bodies only;
    - RFC 6749 §3.1: parameters sent without a value are treated as omitted;
    - RFC 6749 §3.1/§3.2: request parameters MUST NOT be included more than once.
    """
    ctype = request.headers.get("content-type", "")
    if ctype.split(";", 1)[0].strip().lower() != "application/x-www-form-urlencoded":
        raise InvalidRequest("the body must be application/x-www-form-urlencoded")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
        raise InvalidRequest("the request body is too large")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise InvalidRequest("the request body is too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("the request body is not UTF-8") from None
    if "%" in text and _BAD_PERCENT.search(text):
        raise InvalidRequest("the request body has a malformed percent-encoding")
    try:
        pairs = parse_qsl(
            text, keep_blank_values=False, max_num_fields=_MAX_FIELDS, errors="strict"
        )
    except ValueError:  # includes UnicodeDecodeError from percent-decoded bytes
        raise InvalidRequest("the request body is not valid form data") from None
    form: dict[str, str | list[str]] = {}
    for name, value in pairs:
        if name in _REPEATABLE:
            existing = form.setdefault(name, [])
            assert isinstance(existing, list)  # noqa: S101 - repeatable names hold lists
            existing.append(value)
        elif name in form:
            raise InvalidRequest("a request parameter is repeated")
        else:
            form[name] = value
    return form


def single(form: dict[str, str | list[str]], name: str) -> str | None:
    """The one value of a non-repeatable parameter (or None)."""
    value = form.get(name)
    if isinstance(value, list):  # pragma: no cover - only repeatable names hold lists
        raise InvalidRequest("a request parameter is repeated")
    return value
