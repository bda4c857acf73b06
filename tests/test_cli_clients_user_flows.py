"""``tessera clients add`` for the code flow: what registration accepts and refuses.

SECURITY.md §8: fragments, non-https (except loopback) and odd schemes are refused at
registration; a public client gets no secret and only the user grants.
"""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from tessera.cli import app

runner = CliRunner()
CODE = ["--grant", "authorization_code", "--grant", "refresh_token", "--scope", "openid"]


@pytest.fixture
def ready(tmp_path, monkeypatch, secret_registry):
    for name in list(os.environ):
        if name.startswith("TESSERA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TESSERA_HOME", str(tmp_path / "home"))
    for args in (["db", "upgrade"], ["tenants", "add", "default"]):
        assert runner.invoke(app, args).exit_code == 0
    return secret_registry


def add(*args: str):
    result = runner.invoke(app, ["clients", "add", *args, "--json"])
    assert "Traceback" not in result.output
    return result


def test_confidential_web_client(ready):
    result = add(
        "web", *CODE, "--redirect-uri", "https://app.example.test/cb",
        "--post-logout-redirect-uri", "https://app.example.test/", "--first-party",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    ready(row["client_secret"])
    assert row["redirect_uris"] == ["https://app.example.test/cb"]
    assert row["first_party"] is True
    assert row["auth"] == "client_secret_basic"


def test_public_client_has_no_secret(ready):
    result = add("spa", *CODE, "--auth", "none", "--redirect-uri", "http://127.0.0.1/cb")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert "client_secret" not in row
    assert row["auth"] == "none"
    rotated = runner.invoke(app, ["clients", "rotate-secret", "spa"])
    assert rotated.exit_code == 1


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.test/cb#frag",
        "http://app.example.test/cb",
        "javascript:alert(1)",
        "data:text/html,x",
        "https://*.example.test/cb",
        "http://localhost/cb",
    ],
)
def test_bad_redirect_uris_are_refused(ready, uri):
    result = add("web", *CODE, "--redirect-uri", uri)
    assert result.exit_code == 1
    assert "redirect URI" in result.stderr or "redirect URIs" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (CODE, "needs at least one --redirect-uri"),
        (
            ["--grant", "client_credentials", "--auth", "none"],
            "public client",
        ),
        (
            ["--grant", "client_credentials", "--redirect-uri", "https://a.example/cb"],
            "only for the authorization_code grant",
        ),
        (["--grant", "refresh_token"], "refresh_token comes with authorization_code"),
    ],
)
def test_inconsistent_registrations_are_refused(ready, args, message):
    result = add("web", *args)
    assert result.exit_code == 1
    assert message in " ".join(result.stderr.split())
