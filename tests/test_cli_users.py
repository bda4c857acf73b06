"""``tessera users`` in-process (typer's CliRunner), on SQLite and PostgreSQL.

The password comes from one stdin line (or a hidden, confirmed prompt on a terminal), never
from an argument. Listings never show a hash. Refusals are exit 1 and a message on stderr.
"""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from typer.testing import CliRunner

from tessera import cli_users
from tessera.cli import app
from tessera.config import load_settings
from tessera.errors import InvalidCredentials
from tessera.secret import Secret
from tessera.server.passwords import PasswordHasher
from tessera.storage.sql import open_store

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase"
runner = CliRunner()


def run(*args: str, stdin: str | None = None):
    result = runner.invoke(app, list(args), input=stdin)
    assert "Traceback" not in result.output
    if result.exit_code != 0:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def ok(*args: str, stdin: str | None = None):
    result = run(*args, stdin=stdin)
    assert result.exit_code == 0, (args, result.output)
    return result


def fails(*args: str, message: str, stdin: str | None = None):
    result = run(*args, stdin=stdin)
    assert result.exit_code == 1, (args, result.output)
    assert message in " ".join(result.stderr.split()), result.stderr
    assert result.stdout == ""
    return result


def users(tenant: str = "default") -> list[dict]:
    return json.loads(ok("users", "list", "--tenant", tenant, "--json").stdout)


def stored_user(email: str, tenant: str = "default"):
    async def main():
        store = await open_store(load_settings().resolved_database_url)
        try:
            return await store.find_user_by_email(tenant, email)
        finally:
            await store.close()

    return asyncio.run(main())


@pytest.fixture
def home(database_url, tmp_path, monkeypatch, secret_registry):
    """TESSERA_HOME in tmp, small argon2 parameters; on the PostgreSQL half, its URL.

    The passwords are registered with the suite's log audit: none may reach a log line.
    """
    for password in (PASSWORD, NEW_PASSWORD):
        secret_registry(password)
    for name in list(os.environ):
        if name.startswith("TESSERA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TESSERA_PASSWORD_MEMORY_KIB", "8192")
    monkeypatch.setenv("TESSERA_PASSWORD_TIME_COST", "1")
    monkeypatch.setenv("TESSERA_PASSWORD_PARALLELISM", "1")
    if database_url.startswith("postgresql"):
        monkeypatch.setenv("TESSERA_DATABASE_URL", database_url)
    return tmp_path / "home"


@pytest.fixture
def ready(home):
    """A migrated database with tenant ``default``."""
    ok("db", "upgrade")
    ok("tenants", "add", "default")
    return home


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """For input refused before any database is opened: one backend is enough."""
    for name in list(os.environ):
        if name.startswith("TESSERA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path / "home"))


def _verifies(email: str, password: str) -> bool:
    user = stored_user(email)
    try:
        PasswordHasher(time_cost=1, memory_kib=8192, parallelism=1).verify(
            user.password_hash, Secret(password)
        )
    except InvalidCredentials:
        return False
    return True


# -------------------------------------------------------------------------------- add


def test_add_reads_the_password_from_stdin(ready):
    result = ok("users", "add", "Alice@Example.com", "--name", "Alice", stdin=PASSWORD + "\n")
    assert "alice@example.com" in result.stdout
    assert PASSWORD not in result.output
    [row] = users()
    assert row["email"] == "alice@example.com"
    assert row["name"] == "Alice"
    assert row["disabled"] is False
    assert len(row["user_id"]) == 32
    assert int(row["user_id"], 16) >= 0
    assert ":" not in row["user_id"]
    user = stored_user("alice@example.com")
    assert user.password_hash.startswith("$argon2id$v=19$m=8192,t=1,p=1$")
    assert _verifies("alice@example.com", PASSWORD)


def test_add_json_output(ready):
    out = json.loads(ok("users", "add", "bob@example.com", "--json", stdin=PASSWORD).stdout)
    assert out["email"] == "bob@example.com"
    assert set(out) == {"email", "user_id", "name", "disabled", "created"}


def test_only_one_stdin_line_is_read(ready):
    ok("users", "add", "carol@example.com", stdin=PASSWORD + "\nsecond line\n")
    assert _verifies("carol@example.com", PASSWORD)


def test_spaces_in_a_password_are_kept(ready):
    ok("users", "add", "dave@example.com", stdin="  spaced out  \r\n")
    assert _verifies("dave@example.com", "  spaced out  ")
    assert not _verifies("dave@example.com", "spaced out")


def test_prompt_on_a_terminal_asks_twice(ready, monkeypatch):
    monkeypatch.setattr(cli_users, "_stdin_is_terminal", lambda: True)
    result = ok("users", "add", "erin@example.com", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert PASSWORD not in result.output  # hidden input is not echoed
    assert result.output.count("Password") == 1
    assert "Repeat for confirmation" in result.output
    assert _verifies("erin@example.com", PASSWORD)


def test_prompt_mismatch_asks_again(ready, monkeypatch):
    monkeypatch.setattr(cli_users, "_stdin_is_terminal", lambda: True)
    stdin = f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n"
    result = ok("users", "add", "frank@example.com", stdin=stdin)
    assert "do not match" in result.output
    assert _verifies("frank@example.com", PASSWORD)


def test_duplicate_email_refused(ready):
    ok("users", "add", "alice@example.com", stdin=PASSWORD)
    fails(
        "users",
        "add",
        "  ALICE@example.com",
        stdin=PASSWORD,
        message="tenant default already has a user alice@example.com",
    )
    assert len(users()) == 1


def test_same_email_in_two_tenants(ready):
    ok("tenants", "add", "other")
    ok("users", "add", "alice@example.com", stdin=PASSWORD)
    ok("users", "add", "alice@example.com", "--tenant", "other", stdin=PASSWORD)
    assert users()[0]["user_id"] != users("other")[0]["user_id"]


def test_unknown_tenant_refused(ready):
    fails("users", "add", "a@example.com", "--tenant", "nope", stdin=PASSWORD, message="no tenant")


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("", "at least 8 characters"),
        ("\n", "at least 8 characters"),
        ("seven77\n", "at least 8 characters"),
        ("x" * 1025 + "\n", "at most 1024 characters"),
    ],
)
def test_empty_short_or_long_password_refused(offline, stdin, message):
    result = fails("users", "add", "alice@example.com", stdin=stdin, message=message)
    if stdin.strip():
        assert stdin.strip() not in result.output


@pytest.mark.parametrize("email", ["alice", "a@b@example.com", "@example.com", "a b@example.com"])
def test_bad_email_refused(offline, email):
    fails("users", "add", email, stdin=PASSWORD, message="an email address")


def test_there_is_no_password_option(offline):
    """A password on the command line would sit in shell history and `ps` output."""
    for command in ("add", "set-password"):
        result = runner.invoke(app, ["users", command, "alice@example.com", "--password", "x"])
        assert result.exit_code == 2
        assert "No such option" in result.output
        help_text = runner.invoke(app, ["users", command, "--help"]).output
        assert "--password" not in help_text
    # A second positional argument is not taken as one either.
    result = runner.invoke(app, ["users", "add", "alice@example.com", PASSWORD])
    assert result.exit_code == 2


# ------------------------------------------------------------------------------- list


def test_list_json_has_no_hash(ready):
    ok("users", "add", "bob@example.com", stdin=PASSWORD)
    ok("users", "add", "alice@example.com", stdin=PASSWORD)
    rows = users()
    assert [r["email"] for r in rows] == ["alice@example.com", "bob@example.com"]
    for row in rows:
        assert set(row) == {"email", "user_id", "name", "disabled", "created"}
    text = ok("users", "list", "--json").stdout
    assert "$argon2" not in text
    assert "password" not in text


def test_list_table_has_no_hash(ready):
    ok("users", "add", "alice@example.com", stdin=PASSWORD)
    result = ok("users", "list")
    assert "alice@example.com" in result.stdout
    assert "argon2" not in result.stdout


def test_list_empty(ready):
    assert users() == []


# ---------------------------------------------------------------------- disable/enable


def test_disable_and_enable(ready):
    ok("users", "add", "alice@example.com", stdin=PASSWORD)
    before = stored_user("alice@example.com")
    assert "disabled" in ok("users", "disable", "Alice@Example.com").stdout
    assert users()[0]["disabled"] is True
    after = stored_user("alice@example.com")
    assert after.password_hash == before.password_hash
    assert after.updated_at >= before.updated_at
    assert "enabled" in ok("users", "enable", "alice@example.com").stdout
    assert users()[0]["disabled"] is False


@pytest.mark.parametrize("command", ["disable", "enable", "set-password"])
def test_unknown_user_refused(ready, command):
    fails("users", command, "ghost@example.com", stdin=PASSWORD, message="no user")


# -------------------------------------------------------------------------- set-password


def test_set_password_changes_the_hash(ready):
    ok("users", "add", "alice@example.com", stdin=PASSWORD)
    before = stored_user("alice@example.com")
    ok("users", "set-password", "alice@example.com", stdin=NEW_PASSWORD + "\n")
    after = stored_user("alice@example.com")
    assert after.password_hash != before.password_hash
    assert after.user_id == before.user_id
    assert _verifies("alice@example.com", NEW_PASSWORD)
    assert not _verifies("alice@example.com", PASSWORD)


def test_set_password_refuses_a_short_one(ready):
    ok("users", "add", "alice@example.com", stdin=PASSWORD)
    before = stored_user("alice@example.com")
    fails("users", "set-password", "alice@example.com", stdin="short\n", message="at least 8")
    assert stored_user("alice@example.com").password_hash == before.password_hash


def test_commands_before_db_upgrade_name_the_fix(home):
    fails("users", "list", message="tessera db upgrade")
