"""The CLI through typer's runner: real key generation, signing and verification."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tessera.cli import app
from tessera.jose import KeySet, SigningKey

runner = CliRunner()


def test_demo_issues_verifies_and_refuses_forgeries():
    result = runner.invoke(app, ["demo", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["header"]["typ"] == "at+jwt"
    assert out["claims"]["iss"] == "http://127.0.0.1:8800/t/default"
    assert set(out["refused"].values()) <= {"malformed_token", "invalid_signature"}
    assert "ACCEPTED (bug)" not in out["refused"].values()
    keys = KeySet.from_jwks(out["jwks"])
    assert len(keys) == 1


def test_demo_rejects_symmetric_algorithm():
    result = runner.invoke(app, ["demo", "--alg", "HS256"])
    assert result.exit_code != 0


def test_keys_generate_public_has_no_private_members():
    result = runner.invoke(app, ["keys", "generate", "--alg", "EdDSA"])
    assert result.exit_code == 0
    jwk = json.loads(result.output)
    assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & jwk.keys()
    assert jwk["alg"] == "EdDSA"


def test_keys_generate_private_round_trips():
    result = runner.invoke(app, ["keys", "generate", "--alg", "ES256", "--private"])
    assert result.exit_code == 0
    key = SigningKey.from_jwk(json.loads(result.output))
    assert key.alg.name == "ES256"
