"""Structured JSON logs (structlog) that never carry a token or a secret, and audit events.

Two layers of defence:

- :class:`Audit` writes events from a fixed allowlist of metadata fields
  (``jti iss aud client_id tenant_id scope kid`` and a few more); anything else passed in is
  dropped, so a careless call site cannot log a token;
- :func:`redact` runs on EVERY log event: values under sensitive names are masked, and any
  string that looks like a JWT/JWS/JWE, one of Tessera's prefixed secrets (``tss_``, ``tat_``,
  ``trt_``), a PEM block or an ``Authorization`` credential is masked wherever it appears.
"""

from __future__ import annotations

import atexit
import logging
import queue
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, Final, TextIO

import orjson
import structlog

__all__ = ["AUDIT_FIELDS", "Audit", "configure_logging", "redact", "redact_text"]

REDACTED: Final = "[redacted]"
SENSITIVE_NAMES: Final = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "assertion",
        "client_assertion",
        "client_secret",
        "secret",
        "password",
        "authorization",
        "cookie",
        "code",
        "code_verifier",
        "private_key",
        "kek",
        "pepper",
        "dpop",
    }
)
AUDIT_FIELDS: Final = frozenset(
    {
        "jti",
        "sub",
        "iss",
        "aud",
        "client_id",
        "tenant_id",
        "scope",
        "kid",
        "alg",
        "outcome",
        "reason",
        "grant_type",
        "token_format",
        "token_type",
        "auth_method",
        "activates_at",
        "retires_at",
        "removes_at",
        "expires_at",
        "active",
        "error",
    }
)
# JWS/JWE compact (two or four dots of base64url, header starting with '{"' → "eyJ"),
# Tessera's prefixed secrets, PEM blocks, and HTTP credentials.
_SECRETISH: Final = re.compile(
    r"eyJ[A-Za-z0-9_-]{2,}(?:\.[A-Za-z0-9_-]*){2,4}"
    r"|t(?:ss|at|rt|ac)_[A-Za-z0-9_-]{16,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
    r"|\b(?:Bearer|DPoP|Basic)\s+[A-Za-z0-9._~+/=-]{8,}",
    re.IGNORECASE,
)


_SIMPLE: Final = (str, int, float, bool, type(None))


# Every match of _SECRETISH contains one of these (lower-cased); substring tests are far
# cheaper than the regex, so text without any of them skips it.
_MARKERS: Final = ("eyj", "tss_", "tat_", "trt_", "tac_", "-----begin", "bearer", "dpop", "basic")


def _may_hold_secret(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in _MARKERS)


def redact_text(text: str) -> str:
    """Mask every secret-shaped run inside ``text``."""
    if not _may_hold_secret(text):
        return text
    return _SECRETISH.sub(REDACTED, text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value) if len(value) >= 8 else value
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if str(k).lower() in SENSITIVE_NAMES else _redact_value(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(v) for v in value]
    if isinstance(value, bytes):
        return REDACTED  # raw bytes in a log line are key material more often than not
    return value


def redact(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask sensitive names and secret-shaped values everywhere.

    Common case first: when no name is sensitive and every value is a string, a number, None
    or a list of strings, one regex pass over the joined strings decides (every audit event,
    every authorization decision).
    """
    strings: list[str] = []
    for name, value in event_dict.items():
        if name in SENSITIVE_NAMES or (not name.islower() and name.lower() in SENSITIVE_NAMES):
            break
        kind = type(value)
        if kind is str:
            strings.append(value)
        elif kind is list or kind is tuple:
            # A list of names (scopes, policy ids): fast only when every item is a string.
            if not all(type(item) is str for item in value):
                break
            strings.extend(value)
        elif kind not in _SIMPLE:
            break
    else:
        joined = "\x00".join(strings)
        if not _may_hold_secret(joined) or _SECRETISH.search(joined) is None:
            return event_dict
    for name in list(event_dict):
        if name.lower() in SENSITIVE_NAMES:
            event_dict[name] = REDACTED
        else:
            event_dict[name] = _redact_value(event_dict[name])
    return event_dict


def _render(event_dict: Any, **_kwargs: Any) -> str:
    return orjson.dumps(event_dict, default=str).decode()


_BATCH_PAUSE: Final = 0.005


class _BackgroundWriter:
    """Writes log lines from a daemon thread, so a slow disk never stalls the event loop.

    Lines are queued in order and written in batches at most a few milliseconds apart;
    ``close()`` (also at exit) drains the queue. A process killed outright may lose the lines
    still queued (milliseconds' worth).
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="tessera-log", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def _run(self) -> None:
        while True:
            line = self._queue.get()
            if line is None:
                return
            try:
                self._stream.write(line)
                while not self._queue.empty():  # batch what arrived meanwhile
                    more = self._queue.get_nowait()
                    if more is None:
                        self._stream.flush()
                        return
                    self._stream.write(more)
                self._stream.flush()
            except (OSError, ValueError):  # closed stream: nothing sensible left to do
                return
            # Let lines accumulate: one wake-up (and one GIL hand-off) per few milliseconds
            # instead of one per line; under load that was a fifth of the server's CPU.
            time.sleep(_BATCH_PAUSE)

    def msg(self, message: str) -> None:
        self._queue.put(message + "\n")

    log = debug = info = warn = warning = error = critical = exception = fatal = msg

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=5)


def configure_logging(
    level: str = "info", stream: TextIO | None = None, *, background: bool = False
) -> Callable[[], None]:
    """JSON lines to ``stream`` (stderr by default), redaction last before rendering.

    ``background`` (the server's setting) writes from a thread: request latency never waits
    on the disk. Returns a function that drains and stops that thread (also run at exit).
    """
    handler_stream = stream if stream is not None else sys.stderr
    if background:
        writer = _BackgroundWriter(handler_stream)
        factory: Any = lambda *_args: writer  # noqa: E731 - structlog wants a factory
        close: Callable[[], None] = writer.close
    else:
        factory = structlog.WriteLoggerFactory(handler_stream)
        close = handler_stream.flush
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            structlog.processors.JSONRenderer(serializer=_render),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )
    return close


class Audit:
    """Audit events: a name and allowlisted metadata; everything else is dropped."""

    __slots__ = ("_log",)

    def __init__(self, logger_name: str = "tessera.audit") -> None:
        self._log = structlog.get_logger(logger_name)

    def __call__(self, event: str, **fields: object) -> None:
        self.emit(event, **fields)

    def emit(self, event: str, **fields: object) -> None:
        safe = {k: v for k, v in fields.items() if k in AUDIT_FIELDS and v is not None}
        self._log.info(event, audit=True, **safe)
