"""`python -m examples.data_api serve` refuses to start on a bad policy or a too-strong role.

Each case runs the real command in a subprocess and checks the exit status and the message.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from data_api_harness import ROOT, postgres_backend, run_cli

from served import free_port

POLICIES = ROOT / "examples" / "data_api" / "policies"
ARGS = ("--issuer", "https://issuer.example.test", "--audience", "https://api.example.test")


def _policies(tmp_path: Path, extra: str) -> Path:
    directory = tmp_path / "policies"
    shutil.copytree(POLICIES, directory)
    (directory / "extra.cedar").write_text(extra)
    return directory


def _serve(tmp_path: Path, policies: Path, database: str | None = None):
    url = database or f"sqlite:///{tmp_path / 'never-opened.db'}"
    return run_cli("serve", *ARGS, "--policies", str(policies), env={"DATA_API_DATABASE_URL": url})


def test_a_policy_failing_schema_validation_stops_start_up(tmp_path):
    # `principal.department` is not in the schema: Cedar's validator refuses the policy.
    policies = _policies(
        tmp_path,
        '@id("finance-only")\n'
        'permit (principal, action == Action::"data.export", resource)\n'
        'when { principal.department == "finance" };\n',
    )
    result = _serve(tmp_path, policies)
    assert result.returncode != 0
    assert "the policies do not validate; not starting" in result.stderr
    assert "extra.cedar" in result.stderr
    assert "finance-only" in result.stderr
    assert "department" in result.stderr  # Cedar's own reason
    assert "Traceback" not in result.stderr


def test_a_policy_that_does_not_parse_stops_start_up(tmp_path):
    result = _serve(tmp_path, _policies(tmp_path, "permit (principal, action, resource"))
    assert result.returncode != 0
    assert "extra.cedar" in result.stderr
    assert "parse" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_action_the_schema_does_not_declare_stops_start_up(tmp_path):
    policies = _policies(tmp_path, "")
    schema = policies / "schema.cedarschema"
    schema.write_text(schema.read_text().replace('action "members.manage"', 'action "x.y"'))
    (policies / "roles.cedar").write_text("permit (principal, action, resource);\n")
    result = _serve(tmp_path, policies)
    assert result.returncode != 0
    assert "members.manage" in result.stderr


def test_a_superuser_database_role_is_refused(tmp_path):
    with postgres_backend() as target:
        result = _serve(tmp_path, POLICIES, target.admin.sqlalchemy_url)
    assert result.returncode != 0
    assert "refusing to start" in result.stderr
    assert "superuser" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_issuer_that_does_not_answer_stops_start_up(tmp_path):
    url = f"sqlite:///{tmp_path / 'data.db'}"
    assert run_cli("migrate", env={"DATA_API_DATABASE_URL": url}).returncode == 0
    silent = f"http://127.0.0.1:{free_port()}/t/default"
    result = run_cli(
        "serve", "--issuer", silent, "--audience", "https://api.example.test",
        env={"DATA_API_DATABASE_URL": url},
    )  # fmt: skip
    assert result.returncode == 2
    assert "cannot use the issuer's metadata and keys" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("database", ["mysql://root@localhost/x", "sqlite://", "not a url"])
def test_unsupported_database_urls_are_refused_by_name(tmp_path, database):
    result = _serve(tmp_path, POLICIES, database)
    assert result.returncode == 2
    assert "--database" in result.stderr
    assert database not in result.stderr or database == "sqlite://"


def test_help_lists_the_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("migrate", "generate", "serve"):
        assert command in result.stdout
