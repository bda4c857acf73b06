"""``tessera users`` commands: add, list, disable, enable, set-password.

A password never travels as an argument or option (it would sit in the shell history and
in every process listing): it is read with a hidden prompt, typed twice, when stdin is a
terminal, else as ONE line from stdin (``printf '%s\\n' "$PW" | tessera users add …``).
Listings show metadata only, never a hash.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tessera.cli_common import (
    ConfigOption,
    JsonOption,
    TenantOption,
    fail,
    print_rows,
    run_with_context,
    settings_from,
)
from tessera.errors import ConflictError, NotFoundError
from tessera.secret import Secret

# tessera.server.passwords (argon2) is imported where used: the base install (`tessera
# demo`, `tessera keys generate`) has no server extra.
if TYPE_CHECKING:
    from tessera.server.context import ServerContext
    from tessera.storage.user_records import User

__all__ = ["users_commands"]

EmailArgument = Annotated[str, typer.Argument(help="The user's email (stored case-folded).")]


def _user_row(user: User) -> dict[str, Any]:
    """Metadata only: never the password hash."""
    return {
        "email": user.email,
        "user_id": user.user_id,
        "name": user.name,
        "disabled": user.disabled,
        "created": datetime.fromtimestamp(user.created_at, UTC).isoformat(timespec="seconds"),
    }


def _email(text: str) -> str:
    from tessera.server.passwords import normalize_email  # noqa: PLC0415

    try:
        return normalize_email(text)
    except ValueError as exc:
        raise fail(str(exc)) from None


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _read_password() -> Secret:
    """Hidden prompt with confirmation on a terminal; otherwise exactly one stdin line."""
    from tessera.server.passwords import (  # noqa: PLC0415
        MAX_PASSWORD_LENGTH,
        PasswordPolicyError,
        check_password_policy,
    )

    if _stdin_is_terminal():
        text = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        # +2: room for the line end, so an over-long line is seen as such, not cut.
        text = sys.stdin.readline(MAX_PASSWORD_LENGTH + 2).removesuffix("\n").removesuffix("\r")
    password = Secret(text)
    try:
        check_password_policy(password)
    except PasswordPolicyError as exc:
        raise fail(str(exc)) from None
    return password


async def _hash(ctx: ServerContext, password: Secret) -> str:
    from tessera.server.passwords import PasswordHasher  # noqa: PLC0415

    return await PasswordHasher.from_settings(ctx.settings).hash_async(password)


async def _existing_user(ctx: ServerContext, tenant: str, email: str) -> User:
    user = await ctx.store.find_user_by_email(tenant, email)
    if user is None:
        raise NotFoundError(f"no user {email} in tenant {tenant}")
    return user


def users_commands(app: typer.Typer) -> None:
    @app.command("add")
    def add(
        email: EmailArgument,
        tenant: TenantOption = "default",
        name: Annotated[str, typer.Option(help="Display name.")] = "",
        config: ConfigOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Add a user; the password is read from a hidden prompt or one line of stdin."""
        from tessera.storage.user_records import User  # noqa: PLC0415

        settings = settings_from(config)
        address = _email(email)
        password = _read_password()

        async def action(ctx: ServerContext) -> User:
            if await ctx.store.get_tenant(tenant) is None:
                raise NotFoundError(f"no tenant {tenant!r}")
            if await ctx.store.find_user_by_email(tenant, address) is not None:
                raise ConflictError(f"tenant {tenant} already has a user {address}")
            password_hash = await _hash(ctx, password)
            now = time.time()
            user = User(
                tenant_id=tenant,
                user_id=uuid.uuid4().hex,
                email=address,
                password_hash=password_hash,
                name=name,
                created_at=now,
                updated_at=now,
            )
            await ctx.store.add_user(user)
            return user

        user = run_with_context(settings, action)
        if as_json:
            typer.echo(json.dumps(_user_row(user), indent=2))
        else:
            typer.echo(f"user {user.email} added to tenant {tenant}; user_id {user.user_id}")

    @app.command("list")
    def list_(
        tenant: TenantOption = "default", config: ConfigOption = None, as_json: JsonOption = False
    ) -> None:
        """List a tenant's users (metadata only, never a password hash)."""

        async def action(ctx: ServerContext) -> list[dict[str, Any]]:
            return [_user_row(u) for u in await ctx.store.list_users(tenant)]

        print_rows(run_with_context(settings_from(config), action), as_json, "Users")

    def _set_disabled(email: str, tenant: str, config: Path | None, *, disabled: bool) -> None:
        settings = settings_from(config)
        address = _email(email)

        async def action(ctx: ServerContext) -> None:
            user = await _existing_user(ctx, tenant, address)
            await ctx.store.replace_user(replace(user, disabled=disabled, updated_at=time.time()))

        run_with_context(settings, action)
        typer.echo(f"user {address} {'disabled' if disabled else 'enabled'}")

    @app.command("disable")
    def disable(
        email: EmailArgument, tenant: TenantOption = "default", config: ConfigOption = None
    ) -> None:
        """Disable a user: they can no longer log in."""
        _set_disabled(email, tenant, config, disabled=True)

    @app.command("enable")
    def enable(
        email: EmailArgument, tenant: TenantOption = "default", config: ConfigOption = None
    ) -> None:
        """Enable a disabled user again."""
        _set_disabled(email, tenant, config, disabled=False)

    @app.command("set-password")
    def set_password(
        email: EmailArgument, tenant: TenantOption = "default", config: ConfigOption = None
    ) -> None:
        """Replace a user's password (read from a hidden prompt or one line of stdin)."""
        settings = settings_from(config)
        address = _email(email)
        password = _read_password()

        async def action(ctx: ServerContext) -> None:
            user = await _existing_user(ctx, tenant, address)
            password_hash = await _hash(ctx, password)
            await ctx.store.replace_user(
                replace(user, password_hash=password_hash, updated_at=time.time())
            )

        run_with_context(settings, action)
        typer.echo(f"password of {address} replaced")
