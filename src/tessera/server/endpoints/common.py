"""Steps shared by the endpoints that take a form and an authenticated client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from tessera.errors import InvalidRequest, ProtocolError
from tessera.identifiers import TENANT_ID
from tessera.server.client_auth import authenticate_client
from tessera.server.context import ServerContext
from tessera.server.forms import read_form
from tessera.server.responses import error_response, json_response
from tessera.storage.records import Client

__all__ = ["client_endpoint", "context", "known_tenant", "required"]

Form = dict[str, str | list[str]]
Handler = Callable[[ServerContext, str, Client, Form, float], Awaitable[Response]]


async def known_tenant(ctx: ServerContext, request: Request) -> str | None:
    """The tenant named by the path, if it exists."""
    tenant_id = request.path_params.get("tenant", "")
    if not isinstance(tenant_id, str) or not TENANT_ID.fullmatch(tenant_id):
        return None
    tenant = await ctx.directory.tenant(tenant_id)
    return tenant.id if tenant is not None else None


def context(request: Request) -> ServerContext:
    """The process's context, set by the app's lifespan."""
    ctx: ServerContext = request.app.state.ctx
    return ctx


def client_endpoint(
    handler: Handler, *, allow_public: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap ``handler`` with: known tenant → strict form → client authentication.

    ``allow_public``: a public client (``none``, RFC 6749 §2.1) may identify itself with
    ``client_id`` alone. Protocol errors become RFC 6749 §5.2 responses; never a 500.
    """

    async def endpoint(request: Request) -> Response:
        ctx = context(request)
        tenant_id = await known_tenant(ctx, request)
        if tenant_id is None:
            return json_response(
                {"error": "invalid_request", "error_description": "unknown tenant"}, 404
            )
        try:
            form = await read_form(request)
            client = await authenticate_client(
                tenant_id=tenant_id,
                headers=request.headers,
                form=form,
                directory=ctx.directory,
                hasher=ctx.hasher,
                audit=ctx.audit,
                allow_public=allow_public,
            )
            return await handler(ctx, tenant_id, client, form, ctx.clock())
        except ProtocolError as exc:
            return error_response(exc, basic_challenge="authorization" in request.headers)

    return endpoint


def required(form: Form, name: str) -> str:
    value = form.get(name)
    if value is None:
        raise InvalidRequest(f"{name} is required")
    if isinstance(value, list):  # pragma: no cover - only `resource` repeats
        raise InvalidRequest(f"{name} is repeated")
    return value
