"""The server's log writer: lines leave the event loop's thread, in order, none lost."""

from __future__ import annotations

import io
import json

import structlog

from tessera.logging import Audit, configure_logging


def test_background_writer_keeps_order_and_loses_nothing_on_close():
    stream = io.StringIO()
    close = configure_logging("info", stream=stream, background=True)
    audit = Audit()
    for i in range(2000):
        audit.emit("token.issued", jti=f"j{i}", client_id="svc", tenant_id="t")
    structlog.get_logger("x").info("secret-bearing", token="eyJhbGciOiJFUzI1NiJ9.e30.c2ln")
    close()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["jti"] for line in lines[:-1]] == [f"j{i}" for i in range(2000)]
    assert lines[-1]["token"] == "[redacted]"  # redaction still runs before the thread
