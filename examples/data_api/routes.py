"""The endpoints: each declares its action; the handler only parses, queries and encodes.

Every handler gets a VERIFIED principal from ``authorize(action, …)`` (token verified by the
middleware, tenant membership confirmed against ``memberships``, a granted scope allowing the
action, Cedar policies permitting it) and runs its queries in a session scoped to the
principal's verified tenant.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from examples.data_api.export import (
    MEDIA_TYPES,
    ExportFormat,
    ExportResponse,
    event_dict,
    open_export,
)
from examples.data_api.filters import (
    EventFilter,
    ExportWindow,
    decode_cursor,
    parse_filter,
)
from examples.data_api.queries import GroupBy, Metric, aggregate, list_events, remove_member
from examples.data_api.runtime import Runtime, runtime_of
from examples.data_api.store import session_for
from tessera.authz import Principal
from tessera.authz.fastapi import PRINCIPAL_STATE, authorize
from tessera.authz.policy import Resource

__all__ = ["router"]

router = APIRouter()

DATASET = "events"


def dataset(request: Request) -> Resource:
    """The tenant's event dataset (built after the membership check: the tenant is verified)."""
    principal: Principal = getattr(request.state, PRINCIPAL_STATE)
    return Resource("Dataset", DATASET, principal.verified_tenant or "")


def member_list(request: Request) -> Resource:
    principal: Principal = getattr(request.state, PRINCIPAL_STATE)
    return Resource("MemberList", "members", principal.verified_tenant or "")


def _window(request: Request) -> EventFilter:
    params = request.query_params
    return parse_filter(params.get("kind"), params.get("since"), params.get("until"))


def export_context(request: Request) -> dict[str, object]:
    """Cedar context of an export: the span of time it covers (the ABAC rule's input)."""
    return ExportWindow.of(_window(request)).as_context()


RuntimeDep = Annotated[Runtime, Depends(runtime_of)]
Kind = Annotated[str | None, Query(max_length=32)]
Since = Annotated[str | None, Query(max_length=40)]
Until = Annotated[str | None, Query(max_length=40)]


@router.get("/healthz")
async def healthz(runtime: RuntimeDep) -> dict[str, object]:
    return {"status": "ok", **runtime.feed_health()}


@router.get("/events")
async def events(
    runtime: RuntimeDep,
    principal: Annotated[Principal, Depends(authorize("data.list", dataset))],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    kind: Kind = None,
    since: Since = None,
    until: Until = None,
) -> dict[str, Any]:
    window = parse_filter(kind, since, until)
    after = decode_cursor(cursor)
    async with session_for(runtime.store, principal) as session:
        page = await list_events(session, principal.verified_tenant or "", window, after, limit)
        items = [event_dict(row, session.dialect) for row in page.rows]
    return {
        "items": items,
        "next_cursor": page.next_cursor.encode() if page.next_cursor is not None else None,
    }


@router.get("/events/aggregate")
async def events_aggregate(
    runtime: RuntimeDep,
    principal: Annotated[Principal, Depends(authorize("data.aggregate", dataset))],
    group_by: GroupBy,
    metric: Metric = "amount_cents",
    kind: Kind = None,
    since: Since = None,
    until: Until = None,
) -> dict[str, Any]:
    window = parse_filter(kind, since, until)
    async with session_for(runtime.store, principal) as session:
        groups = await aggregate(session, principal.verified_tenant or "", window, group_by, metric)
    return {"group_by": group_by, "metric": metric, "groups": groups}


@router.get("/events/export")
async def events_export(
    runtime: RuntimeDep,
    principal: Annotated[
        Principal, Depends(authorize("data.export", dataset, context=export_context))
    ],
    fmt: Annotated[ExportFormat, Query(alias="format")] = "ndjson",
    kind: Kind = None,
    since: Since = None,
    until: Until = None,
) -> ExportResponse:
    window = parse_filter(kind, since, until)
    body = await open_export(
        runtime.store, principal, window, fmt, batch=runtime.settings.export_batch
    )
    return ExportResponse(
        body,
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="events.{fmt}"',
            "Cache-Control": "no-store",
        },
    )


@router.delete("/members/{subject}", status_code=204)
async def delete_member(
    runtime: RuntimeDep,
    principal: Annotated[Principal, Depends(authorize("members.manage", member_list))],
    subject: Annotated[str, Path(min_length=1, max_length=255)],
) -> Response:
    tenant = principal.verified_tenant or ""
    async with session_for(runtime.store, principal) as session:
        removed = await remove_member(session, tenant, subject)
    # This process forgets at once; other processes hear the NOTIFY (PostgreSQL) or wait
    # out the TTL (SQLite).
    runtime.memberships.invalidate(tenant, subject)
    if not removed:
        return JSONResponse(
            {"error": "not_found", "error_description": "no such member in this tenant"},
            status_code=404,
        )
    return Response(status_code=204)
