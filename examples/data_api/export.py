"""Exports as a stream of bytes: NDJSON or CSV, one chunk per fetched batch of rows.

Nothing here holds more than a few batches: rows come from a server-side cursor
(:meth:`~examples.data_api.session.Session.stream`), each batch is encoded and queued (two
at most) for the HTTP response, and the ASGI server's flow control pauses the whole chain
while the client is slow.
CSV follows RFC 4180: comma-separated, CRLF line ends, fields with a comma, quote, CR or LF
quoted and their quotes doubled (Python's ``csv`` module does exactly that).
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Literal

import orjson
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from examples.data_api.filters import EventFilter
from examples.data_api.queries import EVENT_FIELDS, export_rows
from examples.data_api.session import Dialect, Row
from examples.data_api.store import Store, session_for
from tessera.authz import Principal

__all__ = ["MEDIA_TYPES", "ExportFormat", "ExportResponse", "event_dict", "open_export"]

ExportFormat = Literal["ndjson", "csv"]
MEDIA_TYPES: dict[str, str] = {
    "ndjson": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
}
_OCCURRED_AT = EVENT_FIELDS.index("occurred_at")


def event_dict(row: Row, dialect: Dialect) -> dict[str, object]:
    event = dict(zip(EVENT_FIELDS, row, strict=True))
    event["occurred_at"] = dialect.time_text(row[_OCCURRED_AT])
    return event


def _ndjson(rows: list[Row], dialect: Dialect) -> bytes:
    return b"".join(orjson.dumps(event_dict(row, dialect)) + b"\n" for row in rows)


class _CsvEncoder:
    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def encode(self, rows: list[list[object]]) -> bytes:
        self._writer.writerows(rows)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode("utf-8")


class ExportResponse(StreamingResponse):
    """A streaming response that closes its body generator however the response ends.

    When the client goes away mid-stream, Starlette cancels the task draining the body and
    abandons the generator. Closing it here, once Starlette is done, stops the export's
    producer at once (its transaction rolled back, its connection back in the pool) rather
    than whenever the abandoned generator is garbage-collected.
    """

    def __init__(
        self, body: AsyncGenerator[bytes, None], *, media_type: str, headers: dict[str, str]
    ) -> None:
        super().__init__(body, media_type=media_type, headers=headers)
        self._body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._body.aclose()


_END = object()


async def _produce(
    chunks: asyncio.Queue[object],
    store: Store,
    principal: Principal,
    window: EventFilter,
    fmt: ExportFormat,
    batch: int,
) -> None:
    """Read and encode the export into ``chunks``; this task alone owns the transaction."""
    encoder = _CsvEncoder()
    tenant = principal.verified_tenant or ""  # set: session_for refuses otherwise
    try:
        async with (
            session_for(store, principal) as session,
            # `async for` never closes what it drains: close the cursor with the transaction.
            aclosing(export_rows(session, tenant, window, batch=batch)) as batches,
        ):
            dialect = session.dialect
            if fmt == "csv":
                await chunks.put(encoder.encode([list(EVENT_FIELDS)]))
            async for rows in batches:
                if fmt == "ndjson":
                    await chunks.put(_ndjson(rows, dialect))
                else:
                    at = _OCCURRED_AT
                    await chunks.put(
                        encoder.encode(
                            [[*r[:at], dialect.time_text(r[at]), *r[at + 1 :]] for r in rows]
                        )
                    )
        await chunks.put(_END)
    except Exception as exc:  # noqa: BLE001 - handed to the consumer, which raises it
        await chunks.put(exc)


async def _relay(
    first: bytes, chunks: asyncio.Queue[object], producer: asyncio.Future[None]
) -> AsyncGenerator[bytes, None]:
    try:
        yield first
        while (chunk := await chunks.get()) is not _END:
            if isinstance(chunk, Exception):
                # Headers are out: the server can only cut the response short.
                raise chunk
            if isinstance(chunk, bytes):
                yield chunk
    finally:
        producer.cancel()


async def _nothing() -> AsyncGenerator[bytes, None]:
    nothing: tuple[bytes, ...] = ()
    for chunk in nothing:
        yield chunk


async def open_export(
    store: Store, principal: Principal, window: EventFilter, fmt: ExportFormat, *, batch: int
) -> AsyncGenerator[bytes, None]:
    """Start the export and wait for its first chunk; the rest streams from the generator.

    The rows are read by a producer task, at most two chunks ahead of the client (memory
    stays flat). Why a task: when the client goes away, Starlette cancels the task draining
    the response, and keeps cancelling every await in it (anyio cancel scopes), so a
    transaction opened there could not even be rolled back. In a task of its own, one
    ``cancel()`` unwinds the transaction cleanly. Waiting for the first chunk here means a
    database that fails at the start is a JSON error (503), not a cut-off 200.
    """
    chunks: asyncio.Queue[object] = asyncio.Queue(maxsize=2)
    producer = asyncio.ensure_future(_produce(chunks, store, principal, window, fmt, batch))
    try:
        first = await chunks.get()
    except BaseException:
        producer.cancel()
        raise
    if isinstance(first, Exception):
        raise first
    if first is _END or not isinstance(first, bytes):
        return _nothing()
    return _relay(first, chunks, producer)
