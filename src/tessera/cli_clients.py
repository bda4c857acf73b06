"""``tessera clients``, ``tessera keys`` and ``tessera tokens`` commands."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

import typer

from tessera.cli_common import (
    ID_PATTERN,
    ConfigOption,
    JsonOption,
    TenantOption,
    fail,
    print_rows,
    run_with_context,
    settings_from,
)
from tessera.errors import ConflictError, NotFoundError

if TYPE_CHECKING:
    from tessera.server.context import ServerContext
    from tessera.storage.records import Client

__all__ = ["clients_commands", "keys_commands", "tokens_commands"]

_GRANTS = frozenset({"client_credentials", "authorization_code", "refresh_token"})


def _client_row(client: Client) -> dict[str, Any]:
    """Metadata only: never the secret hash."""
    return {
        "client_id": client.client_id,
        "tenant": client.tenant_id,
        "auth": client.auth_method,
        "grants": sorted(client.grant_types),
        "scopes": sorted(client.scopes),
        "audiences": list(client.audiences),
        "introspect_for": list(client.metadata.get("introspect_audiences", [])),
        "redirect_uris": list(client.metadata.get("redirect_uris", [])),
        "post_logout_redirect_uris": list(client.metadata.get("post_logout_redirect_uris", [])),
        "first_party": bool(client.metadata.get("first_party", False)),
        "require_par": bool(client.metadata.get("require_par", False)),
        "token_format": client.token_format,
        "disabled": client.disabled,
    }


async def _existing_client(ctx: ServerContext, tenant: str, client_id: str) -> Client:
    client = await ctx.store.get_client(tenant, client_id)
    if client is None:
        raise NotFoundError("no such client")
    return client


def _check_uri(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
        raise fail(f"not an absolute http(s) URI without fragment: {value}")
    return value


def _user_flow_metadata(
    grants: frozenset[str],
    auth: str,
    redirect_uris: list[str],
    post_logout: list[str],
    *,
    first_party: bool,
    require_par: bool,
) -> dict[str, Any]:
    """Registration rules of the code flow (RFC 9700 §4.1.1, OAuth 2.1 §2.1, §2.3)."""
    from tessera.server.redirects import InvalidRedirectUri, check_registrable  # noqa: PLC0415

    if auth == "none" and not grants <= {"authorization_code", "refresh_token"}:
        raise fail(
            "a public client (--auth none) may only use authorization_code and refresh_token"
        )
    if "authorization_code" in grants and not redirect_uris:
        raise fail("the authorization_code grant needs at least one --redirect-uri")
    if "authorization_code" not in grants and (redirect_uris or post_logout):
        raise fail("redirect URIs are only for the authorization_code grant")
    if "refresh_token" in grants and "authorization_code" not in grants:
        raise fail("refresh_token comes with authorization_code")
    try:
        for uri in [*redirect_uris, *post_logout]:
            check_registrable(uri)
    except InvalidRedirectUri as exc:
        raise fail(str(exc)) from None
    if "authorization_code" not in grants:
        return {}
    return {
        "redirect_uris": redirect_uris,
        "post_logout_redirect_uris": post_logout,
        "first_party": first_party,
        "require_par": require_par,
    }


def clients_commands(app: typer.Typer) -> None:
    @app.command("add")
    def add(
        client_id: Annotated[str, typer.Argument(help="Client id (letters, digits, . _ -).")],
        tenant: TenantOption = "default",
        grant: Annotated[list[str] | None, typer.Option(help="Grant type (repeat).")] = None,
        scope: Annotated[str, typer.Option(help="Allowed scopes, space-separated.")] = "",
        audience: Annotated[
            list[str] | None, typer.Option(help="Resource it may get tokens for (repeat).")
        ] = None,
        auth: Annotated[
            Literal["client_secret_basic", "client_secret_post", "none"],
            typer.Option(help="Token endpoint authentication; none = a public client (PKCE)."),
        ] = "client_secret_basic",
        redirect_uri: Annotated[
            list[str] | None,
            typer.Option(help="Redirect URI for the code flow (repeat; exact match)."),
        ] = None,
        post_logout_redirect_uri: Annotated[
            list[str] | None, typer.Option(help="Where logout may send the user back (repeat).")
        ] = None,
        first_party: Annotated[
            bool, typer.Option("--first-party", help="Skip the consent page for this client.")
        ] = False,
        require_par: Annotated[
            bool, typer.Option("--require-par", help="Accept only pushed requests (RFC 9126).")
        ] = False,
        token_format: Annotated[
            Literal["jwt", "opaque"], typer.Option(help="Access token format.")
        ] = "jwt",
        introspect_for: Annotated[
            list[str] | None,
            typer.Option(help="As a resource server: audience whose tokens it may introspect."),
        ] = None,
        name: Annotated[str | None, typer.Option(help="Display name.")] = None,
        config: ConfigOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Register a client; its secret is printed once and never stored in clear."""
        from tessera.server.client_secrets import generate_client_secret  # noqa: PLC0415
        from tessera.storage.records import Client  # noqa: PLC0415

        if not ID_PATTERN.fullmatch(client_id):
            raise fail("client id must be 1-64 letters, digits, '.', '_' or '-'")
        grants = frozenset(grant or ["client_credentials"])
        if not grants <= _GRANTS:
            raise fail(f"supported grants: {', '.join(sorted(_GRANTS))}")
        metadata = _user_flow_metadata(
            grants,
            auth,
            redirect_uri or [],
            post_logout_redirect_uri or [],
            first_party=first_party,
            require_par=require_par,
        )
        audiences = tuple(_check_uri(a) for a in audience or [])
        introspect = [_check_uri(a) for a in introspect_for or []]
        settings = settings_from(config)
        secret = generate_client_secret() if auth != "none" else None

        async def action(ctx: ServerContext) -> Client:
            now = time.time()
            if await ctx.store.get_tenant(tenant) is None:
                raise NotFoundError(f"no tenant {tenant!r}")
            client = Client(
                tenant_id=tenant,
                client_id=client_id,
                name=name or client_id,
                auth_method=auth,
                secret_hash=ctx.hasher.hash(secret.reveal_str()) if secret else None,
                grant_types=grants,
                scopes=frozenset(scope.split()),
                audiences=audiences,
                token_format=token_format,
                created_at=now,
                updated_at=now,
                metadata={
                    **metadata,
                    **({"introspect_audiences": introspect} if introspect else {}),
                },
            )
            await ctx.store.add_client(client)
            return client

        client = run_with_context(settings, action)
        row = _client_row(client)
        if secret is not None:
            row["client_secret"] = secret.reveal_str()
        if as_json:
            typer.echo(json.dumps(row, indent=2))
        else:
            typer.echo(f"client {client_id} added to tenant {tenant}")
            if secret is not None:
                typer.echo(f"client_secret: {secret.reveal_str()}")
                typer.echo("(shown once; store it now)")
            else:
                typer.echo("public client: no secret; PKCE protects its codes")

    @app.command("list")
    def list_(
        tenant: TenantOption = "default", config: ConfigOption = None, as_json: JsonOption = False
    ) -> None:
        """List a tenant's clients (metadata only)."""

        async def action(ctx: ServerContext) -> list[dict[str, Any]]:
            return [_client_row(c) for c in await ctx.store.list_clients(tenant)]

        print_rows(run_with_context(settings_from(config), action), as_json, "Clients")

    @app.command("show")
    def show(
        client_id: str,
        tenant: TenantOption = "default",
        config: ConfigOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Show one client (metadata only)."""

        async def action(ctx: ServerContext) -> dict[str, Any]:
            client = await _existing_client(ctx, tenant, client_id)
            return _client_row(client)

        print_rows([run_with_context(settings_from(config), action)], as_json, "Client")

    @app.command("rotate-secret")
    def rotate_secret(
        client_id: str,
        tenant: TenantOption = "default",
        config: ConfigOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Replace a client's secret; the old one stops working (within the cache TTL)."""
        from tessera.server.client_secrets import generate_client_secret  # noqa: PLC0415

        secret = generate_client_secret()

        async def action(ctx: ServerContext) -> None:
            client = await _existing_client(ctx, tenant, client_id)
            if client.auth_method == "none":
                raise ConflictError("a public client has no secret to rotate")
            await ctx.store.replace_client(
                replace(
                    client,
                    secret_hash=ctx.hasher.hash(secret.reveal_str()),
                    updated_at=time.time(),
                )
            )

        run_with_context(settings_from(config), action)
        if as_json:
            typer.echo(json.dumps({"client_id": client_id, "client_secret": secret.reveal_str()}))
        else:
            typer.echo(f"client_secret: {secret.reveal_str()}")
            typer.echo("(shown once; store it now)")

    @app.command("disable")
    def disable(
        client_id: str, tenant: TenantOption = "default", config: ConfigOption = None
    ) -> None:
        """Disable a client: it can no longer authenticate."""

        async def action(ctx: ServerContext) -> None:
            client = await _existing_client(ctx, tenant, client_id)
            await ctx.store.replace_client(replace(client, disabled=True, updated_at=time.time()))

        run_with_context(settings_from(config), action)
        typer.echo(f"client {client_id} disabled")


def keys_commands(app: typer.Typer) -> None:
    @app.command("list")
    def list_(
        tenant: TenantOption = "default", config: ConfigOption = None, as_json: JsonOption = False
    ) -> None:
        """List a tenant's signing keys and their states (never key material)."""

        async def action(ctx: ServerContext) -> list[dict[str, Any]]:
            now = time.time()
            return ctx.keys.describe(await ctx.keys.keys_for(tenant, now), now)

        print_rows(run_with_context(settings_from(config), action), as_json, "Signing keys")

    @app.command("rotate")
    def rotate(
        tenant: TenantOption = "default",
        immediately: Annotated[
            bool,
            typer.Option(help="Compromise: sign with the new key now, drop the old at once."),
        ] = False,
        config: ConfigOption = None,
    ) -> None:
        """Create the next key; it signs after the publish lead (or at once)."""

        async def action(ctx: ServerContext) -> str:
            return await ctx.keys.rotate(tenant, time.time(), immediately=immediately)

        kid = run_with_context(settings_from(config), action)
        typer.echo(f"new key {kid}")

    @app.command("retire")
    def retire(
        kid: str,
        tenant: TenantOption = "default",
        remove_now: Annotated[
            bool, typer.Option(help="Compromise: drop it from the JWKS at once.")
        ] = False,
        config: ConfigOption = None,
    ) -> None:
        """Stop a key signing now; it stays published until its tokens expired."""

        async def action(ctx: ServerContext) -> None:
            await ctx.keys.retire(tenant, kid, time.time(), remove_now=remove_now)

        run_with_context(settings_from(config), action)
        typer.echo(f"key {kid} retired")


def tokens_commands(app: typer.Typer) -> None:
    @app.command("revoke")
    def revoke(
        jti: Annotated[str, typer.Option("--jti", help="The token's jti.")],
        expires_at: Annotated[
            float | None,
            typer.Option(help="Keep denying until this epoch time (default: now + 15 min)."),
        ] = None,
        tenant: TenantOption = "default",
        config: ConfigOption = None,
    ) -> None:
        """Deny a token by its jti until it expires, and publish the revocation."""
        from tessera.events.bus import RevocationEvent  # noqa: PLC0415

        async def action(ctx: ServerContext) -> None:
            now = time.time()
            until = expires_at if expires_at is not None else now + 900
            await ctx.store.revoke_jti(tenant, jti, expires_at=until, now=now)
            await ctx.bus.publish(RevocationEvent("jti", tenant, jti, until, issued_at=now))
            ctx.audit.emit("token.revoked", tenant_id=tenant, jti=jti, reason="cli")

        run_with_context(settings_from(config), action)
        typer.echo(f"jti {jti} revoked")
