"""Logs and audit (DESIGN.md "Logs and audit"): metadata only, and nothing secret-shaped.

A full flow runs twice: once with the production renderer (``configure_logging``) writing
JSON lines to a buffer, which is searched for every token and secret the flow saw; once
under ``structlog.testing.capture_logs`` to read the audit events as structured dicts.
"""

from __future__ import annotations

import io
import json
import re
import uuid

import pytest
import structlog
from _oauth import active_kid, basic
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from harness import API
from structlog.testing import capture_logs

from tessera.jose.jwk import SigningKey
from tessera.jose.jwt import encode_jwt
from tessera.jose.unverified import peek_unverified_claims
from tessera.logging import REDACTED, configure_logging, redact, redact_text

JWT_SHAPED = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


@pytest.fixture
def rendered_logs():
    """The production JSON renderer into a buffer; the suite's own configuration after."""
    saved = structlog.get_config()
    stream = io.StringIO()
    configure_logging("debug", stream=stream)
    try:
        yield stream
    finally:
        structlog.configure(**saved)


async def full_flow(server, prefix: str) -> dict[str, str]:
    """Issue, introspect, revoke, fail to authenticate; return every secret value seen."""
    svc, opq, post, rs = (f"{prefix}-{n}" for n in ("svc", "opq", "post", "rs"))
    await server.add_client(svc)
    await server.add_client(opq, token_format="opaque")
    await server.add_client(post, auth="client_secret_post")
    await server.add_client(rs, grants=frozenset(), introspect_for=(API,))
    jwt = await server.access_token(svc, scope="data:read")
    opaque = await server.access_token(opq)
    by_post = await server.http.post(
        "/t/default/token",
        data={"grant_type": "client_credentials", "client_id": post,
              "client_secret": server.secrets[post]},
    )  # fmt: skip
    assert by_post.status_code == 200
    post_token = by_post.json()["access_token"]
    server.remember(post_token)
    assert (await server.introspect(rs, jwt))["active"] is True
    assert (await server.introspect(rs, opaque))["active"] is True
    assert (await server.revoke(svc, jwt)).status_code == 200
    assert (await server.revoke(opq, opaque)).status_code == 200
    wrong = "tss_" + uuid.uuid4().hex + uuid.uuid4().hex[:11]
    server.remember(wrong)
    failed = await server.http.post(
        "/t/default/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic(svc, wrong)},
    )
    assert failed.status_code == 401
    wrong_post = await server.http.post(
        "/t/default/token",
        data={"grant_type": "client_credentials", "client_id": post, "client_secret": jwt},
    )
    assert wrong_post.status_code == 401
    secrets = {f"secret {c}": server.secrets[c] for c in (svc, opq, post, rs)}
    return {
        **secrets,
        "jwt": jwt,
        "opaque": opaque,
        "post token": post_token,
        "wrong secret": wrong,
    }


async def test_rendered_logs_carry_no_token_or_secret(server, rendered_logs):
    seen = await full_flow(server, "r")
    text = rendered_logs.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert {e["event"] for e in lines} >= {
        "token.issued",
        "token.introspected",
        "token.revoked",
        "client.auth_failed",
    }
    leaks = {name for name, value in seen.items() if value in text or value[:12] in text}
    assert not leaks, leaks
    assert not JWT_SHAPED.search(text)
    assert not re.search(r"t(ss|at|rt)_[A-Za-z0-9_-]{8}", text)
    jti = peek_unverified_claims(seen["jwt"])["jti"]
    assert any(e.get("jti") == jti and e["event"] == "token.revoked" for e in lines)
    assert all("timestamp" in e and "level" in e for e in lines)


async def test_audit_events_carry_metadata_only(server):
    with capture_logs() as logs:
        seen = await full_flow(server, "c")
    kid = await active_kid(server)
    claims = peek_unverified_claims(seen["jwt"])
    audit = [e for e in logs if e.get("audit") is True]
    by_event: dict[str, list[dict]] = {}
    for event in audit:
        by_event.setdefault(event["event"], []).append(event)

    issued = {e["client_id"]: e for e in by_event["token.issued"]}
    assert set(issued) == {"c-svc", "c-opq", "c-post"}
    jwt_event = issued["c-svc"]
    assert jwt_event["jti"] == claims["jti"]
    assert jwt_event["kid"] == kid
    assert jwt_event["tenant_id"] == "default"
    assert jwt_event["scope"] == "data:read"
    assert jwt_event["iss"] == server.issuer
    assert jwt_event["aud"] == API
    assert jwt_event["grant_type"] == "client_credentials"
    assert jwt_event["token_format"] == "jwt"
    assert issued["c-opq"]["token_format"] == "opaque"
    assert "kid" not in issued["c-opq"]

    introspected = by_event["token.introspected"]
    assert {(e["client_id"], e["active"]) for e in introspected} == {("c-rs", True)}
    assert claims["jti"] in {e.get("jti") for e in introspected}

    revoked = by_event["token.revoked"]
    assert {(e["client_id"], e["token_format"]) for e in revoked} == {
        ("c-svc", "jwt"),
        ("c-opq", "opaque"),
    }
    failed = {(e["client_id"], e["reason"]) for e in by_event["client.auth_failed"]}
    assert failed == {("c-svc", "bad_secret"), ("c-post", "bad_secret")}

    raw = repr(audit)  # before redaction: the allowlist alone must keep secrets out
    leaks = {name for name, value in seen.items() if value in raw or value[:12] in raw}
    assert not leaks, leaks


# ------------------------------------------------------------------------- redaction unit


def _pem(key, fmt) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def _secret_samples() -> dict[str, str]:
    signer = SigningKey.generate("ES256")
    jwt = encode_jwt({"sub": "x", "exp": 1}, signer)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fmt = serialization.PrivateFormat
    return {
        "jwt": jwt,
        "jws detached": jwt.split(".")[0] + ".." + jwt.split(".")[2],
        "jwe": "eyJhbGciOiJSU0EtT0FFUCJ9.abc_def.ghi-jkl.mno.pqr_stu",
        "client secret": "tss_" + "Zx9-" * 10 + "abc",
        "opaque token": "tat_" + "Qw_8" * 10 + "xyz",
        "refresh token": "trt_" + "Lm-3" * 10 + "uvw",
        "pkcs8 pem": _pem(ec_key, fmt.PKCS8),
        "sec1 pem": _pem(ec_key, fmt.TraditionalOpenSSL),
        "pkcs1 pem": _pem(rsa_key, fmt.TraditionalOpenSSL),
        "openssh pem": _pem(ec_key, fmt.OpenSSH),
        "bearer": "Bearer " + "a1B2c3D4e5F6g7H8",
        "basic": "Basic c3ZjOnRzc19zZWNyZXRzZWNyZXQ=",
        "dpop": "DPoP " + jwt,
    }


def test_redact_text_masks_every_secret_shape():
    for name, secret in _secret_samples().items():
        masked = redact_text(f"before {secret} after")
        assert masked.startswith("before "), name
        assert masked.endswith(" after") or name.endswith("pem"), name
        assert REDACTED in masked, name
        # Not a byte of the credential part survives (the scheme word may).
        core = secret.split()[-1] if name in {"bearer", "basic", "dpop"} else secret
        assert core not in masked, name
        assert core[-12:] not in masked, name


def test_credentials_are_masked_whatever_the_scheme_case():
    """RFC 9110 §11.1: auth schemes are case-insensitive, so ``basic``/``BEARER`` are creds."""
    for text in ("basic c3ZjOnRzc19zZWNyZXQ=", "BEARER a1B2c3D4e5F6g7H8", "bearer a1B2c3D4e5F6"):
        assert text.split()[1] not in redact_text(f"header {text}"), text


def test_prefixed_secrets_are_masked_inside_encoded_urls():
    """A token in a percent-encoded query (``%3D`` before it) is still a token."""
    opaque = "tat_" + "Qw_8" * 10 + "xyz"
    for text in (f"next=%2Fcb%3Faccess_token%3D{opaque}", f"a=1%26token%3D{opaque}"):
        assert opaque not in redact_text(text), text


def test_redact_masks_sensitive_names_at_any_depth():
    event = {
        "event": "request",
        "client_secret": "s3",
        "password": "hunter2",
        "Authorization": "anything",
        "code": "abc",
        "CODE_VERIFIER": "x" * 43,
        "refresh_token": "r",
        "cookie": "sid=1",
        "headers": {"authorization": "Basic Zm9vOmJhcg==", "accept": "application/json"},
        "items": [{"Client_Secret": "s"}, "Bearer a1B2c3D4e5F6g7H8"],
        "raw": b"\x00\x01key material",
    }
    out = redact(None, "info", dict(event))
    for name in ("client_secret", "password", "Authorization", "code", "CODE_VERIFIER"):
        assert out[name] == REDACTED, name
    assert out["refresh_token"] == out["cookie"] == REDACTED
    assert out["headers"] == {"authorization": REDACTED, "accept": "application/json"}
    assert out["items"] == [{"Client_Secret": REDACTED}, REDACTED]
    assert out["raw"] == REDACTED
    assert out["event"] == "request"


def test_identifiers_are_not_masked():
    """kids (RFC 7638 thumbprints), jtis and client ids are metadata the audit needs."""
    kids = [SigningKey.generate("ES256").kid for _ in range(20)]
    kids.append("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")  # RFC 7638 §3.1
    jtis = [uuid.uuid4().hex for _ in range(20)]
    for value in [*kids, *jtis, "svc.a-b_c", "client:svc", "https://api.example.test"]:
        assert redact_text(value) == value
        assert redact(None, "info", {"kid": value, "jti": value}) == {"kid": value, "jti": value}
    assert all(len(kid) == 43 for kid in kids)


def test_a_secret_in_a_list_of_strings_is_masked():
    """The fast path accepts lists of strings (policy ids, scopes): it must still look in them."""
    token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    for container in (list, tuple):
        event = {"event": "authz.decision", "policies": container(["admin-all", token])}
        assert redact(None, "info", event)["policies"] == ["admin-all", REDACTED]
    plain = {"event": "authz.decision", "policies": ["admin-all", "tenant-boundary"]}
    assert redact(None, "info", dict(plain)) == plain
