"""The server's CLI in-process (typer's CliRunner), on the embedded SQLite default and on
PostgreSQL: db, tenants, clients, keys, tokens. Bad input is exit 1 and a message on stderr,
never a traceback. The CLI calls ``asyncio.run`` itself, so these tests are synchronous.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tessera.cli import app
from tessera.config import load_settings
from tessera.server.app import build_app, make_context
from tessera.storage.migrate import HEAD_REVISION
from tessera.storage.records import KeyState
from tessera.storage.sql import open_store

API = "https://api.example.test"
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k"}


class Cli:
    def __init__(self, secret_registry) -> None:
        self.runner = CliRunner()
        self.remember = secret_registry

    def run(self, *args: str):
        result = self.runner.invoke(app, list(args))
        assert "Traceback" not in result.output
        if result.exit_code != 0:
            # An intended failure is typer.Exit (SystemExit); anything else is a crash.
            assert isinstance(result.exception, SystemExit), repr(result.exception)
        return result

    def ok(self, *args: str):
        result = self.run(*args)
        assert result.exit_code == 0, (args, result.output)
        return result

    def json(self, *args: str):
        out = json.loads(self.ok(*args, "--json").stdout)
        for secret in _secrets_in(out):
            self.remember(secret)
        return out

    def fails(self, *args: str, message: str):
        result = self.run(*args)
        assert result.exit_code == 1, (args, result.output)
        # rich wraps long lines at the terminal width
        assert message in " ".join(result.stderr.split()), result.stderr
        assert "Traceback" not in result.stderr
        assert result.stdout == ""
        return result


def _secrets_in(value) -> list[str]:
    if isinstance(value, dict):
        return [v for k, v in value.items() if k == "client_secret"] + [
            s for v in value.values() for s in _secrets_in(v)
        ]
    if isinstance(value, list):
        return [s for v in value for s in _secrets_in(v)]
    return []


@pytest.fixture
def home(database_url, tmp_path, monkeypatch) -> Path:
    """TESSERA_HOME in tmp; on the PostgreSQL half, TESSERA_DATABASE_URL too."""
    for name in list(os.environ):
        if name.startswith("TESSERA_"):
            monkeypatch.delenv(name)
    path = tmp_path / "home"
    monkeypatch.setenv("TESSERA_HOME", str(path))
    if database_url.startswith("postgresql"):
        monkeypatch.setenv("TESSERA_DATABASE_URL", database_url)
    return path


@pytest.fixture
def cli(home, secret_registry) -> Cli:
    return Cli(secret_registry)


@pytest.fixture
def offline(tmp_path, monkeypatch, secret_registry) -> Cli:
    """For input refused before any database is opened: one backend is enough."""
    for name in list(os.environ):
        if name.startswith("TESSERA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path / "home"))
    return Cli(secret_registry)


@pytest.fixture
def ready(cli) -> Cli:
    """A migrated database with tenant ``default`` and its first key."""
    cli.ok("db", "upgrade")
    cli.ok("tenants", "add", "default")
    return cli


def in_store(action):
    """Run ``action(ctx)`` against the CLI's database (settings from the same environment)."""

    async def main():
        settings = load_settings()
        store = await open_store(settings.resolved_database_url)
        try:
            return await action(make_context(settings, store))
        finally:
            await store.close()

    return asyncio.run(main())


def token_status(cli: Cli, client_id: str, secret: str) -> int:
    """POST /token (client_secret_basic) against an app over the CLI's database."""

    async def action(ctx):
        transport = httpx.ASGITransport(app=build_app(ctx, background=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            response = await http.post(
                "/t/default/token",
                data={"grant_type": "client_credentials"},
                auth=(client_id, secret),
            )
        if response.status_code == 200:
            cli.remember(response.json()["access_token"])
        return response.status_code

    return in_store(action)


# -------------------------------------------------------------------------------- db


def test_db_upgrade_is_idempotent(cli, home):
    first = cli.ok("db", "upgrade")
    assert f"revision {HEAD_REVISION}" in first.stdout
    again = cli.ok("db", "upgrade")
    assert f"revision {HEAD_REVISION}" in again.stdout


def test_commands_before_db_upgrade_name_the_fix(cli):
    result = cli.fails("tenants", "list", message="tessera db upgrade")
    assert result.exit_code == 1


# --------------------------------------------------------------------------- tenants


def test_tenants_add_and_list(ready):
    ready.ok("tenants", "add", "acme", "--name", "Acme Inc.")
    rows = ready.json("tenants", "list")
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {"default", "acme"}
    assert by_id["acme"]["name"] == "Acme Inc."
    assert by_id["acme"]["issuer"] == "http://127.0.0.1:8800/t/acme"
    # A new tenant gets its first signing key at once.
    keys = ready.json("keys", "list", "--tenant", "acme")
    assert [k["state"] for k in keys] == ["active"]


def test_tenants_list_table(ready):
    assert "default" in ready.ok("tenants", "list").stdout


@pytest.mark.parametrize("bad", ["Acme", "acme inc", "a" * 64, "acme_1", "acme.", ""])
def test_tenant_id_refused(offline, bad):
    offline.fails("tenants", "add", bad, message="tenant id")


def test_duplicate_tenant_refused(ready):
    ready.fails("tenants", "add", "default", message="already exists")


# --------------------------------------------------------------------------- clients


def add_client(cli: Cli, client_id: str, *extra: str) -> dict:
    return cli.json(
        "clients", "add", client_id, "--scope", "data:read data:write", "--audience", API, *extra
    )


def test_clients_add_prints_the_secret_once(ready):
    out = add_client(ready, "svc")
    secret = out["client_secret"]
    assert secret.startswith("tss_")
    assert len(secret) >= 40
    assert out["client_id"] == "svc"
    assert out["scopes"] == ["data:read", "data:write"]
    assert out["audiences"] == [API]
    assert "secret_hash" not in out

    shown = ready.ok("clients", "show", "svc", "--json").stdout
    listed = ready.ok("clients", "list", "--json").stdout
    table = ready.ok("clients", "list").stdout
    for text in (shown, listed, table):
        assert secret not in text
        assert "secret_hash" not in text
        assert '"client_secret"' not in text
        assert "client_secret:" not in text
    assert json.loads(shown)[0]["client_id"] == "svc"
    assert [c["client_id"] for c in json.loads(listed)] == ["svc"]

    # Stored hashed only: neither the secret nor anything equal to it is in the database.
    client = in_store(lambda ctx: ctx.store.get_client("default", "svc"))
    assert client.secret_hash is not None
    assert secret.encode() not in client.secret_hash
    assert token_status(ready, "svc", secret) == 200


def test_clients_add_text_output_shows_secret(ready, secret_registry):
    result = ready.ok("clients", "add", "svc", "--audience", API)
    lines = [line for line in result.stdout.splitlines() if line.startswith("client_secret: ")]
    assert len(lines) == 1
    secret = secret_registry(lines[0].removeprefix("client_secret: "))
    assert secret.startswith("tss_")
    assert "shown once" in result.stdout


def test_clients_add_introspect_for(ready):
    out = add_client(ready, "data-api", "--introspect-for", API)
    assert out["introspect_for"] == [API]


def test_rotate_secret_old_stops_working(ready):
    old = add_client(ready, "svc")["client_secret"]
    assert token_status(ready, "svc", old) == 200
    rotated = ready.json("clients", "rotate-secret", "svc")
    new = rotated["client_secret"]
    assert new.startswith("tss_")
    assert new != old
    assert token_status(ready, "svc", old) == 401
    assert token_status(ready, "svc", new) == 200

    hasher_checks = in_store(
        lambda ctx: _verify_both(ctx, "svc", old, new),
    )
    assert hasher_checks == (False, True)


async def _verify_both(ctx, client_id, old, new):
    client = await ctx.store.get_client("default", client_id)
    return ctx.hasher.verify(old, client.secret_hash), ctx.hasher.verify(new, client.secret_hash)


def test_disable_client(ready):
    secret = add_client(ready, "svc")["client_secret"]
    assert "disabled" in ready.ok("clients", "disable", "svc").stdout
    assert ready.json("clients", "show", "svc")[0]["disabled"] is True
    assert token_status(ready, "svc", secret) == 401


@pytest.mark.parametrize("bad", ["my client", "svc\n", " svc", "a/b", ".svc", "x" * 65, ""])
def test_client_id_refused(offline, bad):
    offline.fails("clients", "add", bad, "--audience", API, message="client id")


def test_client_in_unknown_tenant_refused(ready):
    ready.fails("clients", "add", "svc", "--tenant", "nope", "--audience", API, message="nope")
    assert ready.json("clients", "list") == []


def test_duplicate_client_refused(ready):
    add_client(ready, "svc")
    ready.fails("clients", "add", "svc", "--audience", API, message="already exists")


@pytest.mark.parametrize("bad", ["api.example.test", "ftp://api.example.test", "https://a#x"])
def test_bad_audience_refused(offline, bad):
    offline.fails("clients", "add", "svc", "--audience", bad, message=bad)


def test_unsupported_grant_refused(offline):
    offline.fails("clients", "add", "svc", "--grant", "password", message="supported grants")


@pytest.mark.parametrize("command", ["show", "rotate-secret", "disable"])
def test_unknown_client_refused(ready, command):
    ready.fails("clients", command, "ghost", message="no such client")


# ------------------------------------------------------------------------------ keys


def test_keys_list_rotate_retire(ready):
    (first,) = ready.json("keys", "list")
    assert first["state"] == "active"
    assert first["alg"] == "ES256"
    listing = ready.ok("keys", "list", "--json").stdout
    assert not PRIVATE_MEMBERS & set(json.loads(listing)[0])
    assert '"d"' not in listing

    rotated = ready.ok("keys", "rotate")
    new_kid = rotated.stdout.strip().removeprefix("new key ")
    states = {k["kid"]: k["state"] for k in ready.json("keys", "list")}
    assert states == {first["kid"]: "active", new_kid: "next"}

    retired = ready.ok("keys", "retire", first["kid"])
    assert first["kid"] in retired.stdout
    states = {k["kid"]: k["state"] for k in ready.json("keys", "list")}
    assert states[first["kid"]] == "retiring"
    assert KeyState.ACTIVE.value in states.values()  # something still signs

    # Never key material, in any output.
    for text in (listing, ready.ok("keys", "list").stdout):
        assert "sealed" not in text


def test_keys_rotate_immediately(ready):
    (first,) = ready.json("keys", "list")
    new_kid = ready.ok("keys", "rotate", "--immediately").stdout.strip().removeprefix("new key ")
    states = {k["kid"]: k["state"] for k in ready.json("keys", "list")}
    assert states == {first["kid"]: "retired", new_kid: "active"}


def test_keys_retire_unknown_kid_refused(ready):
    ready.fails("keys", "retire", "no-such-kid", message="no such key")


def test_keys_rotate_unknown_tenant_refused(ready):
    ready.fails("keys", "rotate", "--tenant", "nope", message="tenant")


# ---------------------------------------------------------------------------- tokens


def test_tokens_revoke_by_jti(ready):
    jti = "0123456789abcdef"
    result = ready.ok("tokens", "revoke", "--jti", jti)
    assert jti in result.stdout

    async def check(ctx):
        now = time.time()
        return (
            await ctx.store.is_revoked("default", jti, now=now),
            await ctx.store.is_revoked("default", jti, now=now + 901),
            await ctx.store.is_revoked("default", "other", now=now),
        )

    assert in_store(check) == (True, False, False)


def test_tokens_revoke_until(ready):
    until = time.time() + 3600
    ready.ok("tokens", "revoke", "--jti", "abc", "--expires-at", str(until))

    async def check(ctx):
        return await ctx.store.is_revoked("default", "abc", now=until - 1)

    assert in_store(check) is True


# ----------------------------------------------------------------------- bad settings


def test_bad_setting_is_a_clear_error(offline, monkeypatch):
    monkeypatch.setenv("TESSERA_CLOCK_SKEW", "500")
    offline.fails("tenants", "list", message="clock_skew")


def test_bad_database_url_is_a_clear_error(offline, monkeypatch):
    monkeypatch.setenv("TESSERA_DATABASE_URL", "mysql://root@127.0.0.1/x")
    result = offline.fails("tenants", "list", message="database URL")
    assert "root" not in result.stderr
