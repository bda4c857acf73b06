"""The public names are chosen on purpose; this test pins them (a change here is an API change)."""

from __future__ import annotations

import subprocess
import sys

import tessera
import tessera.errors
import tessera.jose
import tessera.verify


def test_top_level_names():
    assert sorted(tessera.__all__) == ["TesseraError", "TokenError", "__version__"]


def test_jose_names():
    assert sorted(tessera.jose.__all__) == [
        "ALGORITHMS",
        "Algorithm",
        "Claims",
        "ClaimsPolicy",
        "KeyResolver",
        "KeySet",
        "SigningKey",
        "SymmetricKey",
        "VerificationKey",
        "encode_jwt",
        "get_algorithm",
        "peek_unverified_claims",
        "peek_unverified_header",
        "sign_compact",
        "thumbprint",
        "verify_compact",
    ]


def test_verify_names():
    assert sorted(tessera.verify.__all__) == [
        "BearerAuthMiddleware",
        "Claims",
        "FetchPolicy",
        "IntrospectionVerifier",
        "JwksCachePolicy",
        "KeySet",
        "RedisRevocationSubscriber",
        "RemoteJwks",
        "RevocationFeed",
        "VerifiedTokenCache",
        "Verifier",
        "VerifierSet",
    ]


def test_every_error_has_a_distinct_stable_code():
    classes = [getattr(tessera.errors, n) for n in tessera.errors.__all__]
    codes = [c.code for c in classes]
    assert len(set(codes)) == len(codes)
    assert all(issubclass(c, tessera.TesseraError) for c in classes)
    assert tessera.errors.TokenExpired.code == "token_expired"
    assert tessera.errors.AlgorithmNotAllowed.code == "alg_not_allowed"


def test_no_none_algorithm_exists():
    """RFC 8725 §3.1: `none` is not an algorithm here, in any spelling."""
    names = {n.lower() for n in tessera.jose.ALGORITHMS}
    assert "none" not in names


def test_verify_imports_without_server_dependencies():
    """`tessera[verify]` alone must suffice: importing the verifier pulls in no server stack."""
    code = (
        "import sys, tessera.verify, tessera.jose;"
        "bad = [m for m in ('starlette', 'sqlalchemy', 'uvicorn', 'typer', 'pydantic', 'asyncpg')"
        " if m in sys.modules]; print(','.join(bad)); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"verifier imported server modules: {result.stdout}"
