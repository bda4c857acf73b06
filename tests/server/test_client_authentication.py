"""Client authentication at ``/token`` (RFC 6749 §2.3, §5.2): every failure is a 401.

Also: the hash is computed whether or not the client exists (no timing oracle), and a
failure leaves an audit trail with the client id and the reason, never the secret.
"""

from __future__ import annotations

import base64

from _oauth import assert_all, assert_oauth_error, basic, lenient_http, raw_basic, set_client
from structlog.testing import capture_logs

from tessera.server.client_secrets import SecretHasher
from tessera.storage.records import Tenant

TOKEN = "/t/default/token"
GRANT = {"grant_type": "client_credentials"}


async def with_header(server, authorization: str | bytes, form: dict[str, str] | None = None):
    async with lenient_http(server) as http:  # a crash comes back as a 500, not an exception
        return await http.post(
            TOKEN, data={**GRANT, **(form or {})}, headers={"Authorization": authorization}
        )


async def post_auth(server, client_id: str, secret: str, tenant: str = "default"):
    form = {**GRANT, "client_id": client_id, "client_secret": secret}
    return await server.http.post(f"/t/{tenant}/token", data=form)


def challenged(response) -> bool:
    return response.headers.get("www-authenticate", "").lower().startswith("basic")


async def test_no_credentials(server):
    await server.add_client("svc")
    results = [
        ("none", await server.http.post(TOKEN, data=GRANT)),
        ("id only", await server.http.post(TOKEN, data={**GRANT, "client_id": "svc"})),
    ]
    assert_all(results, 401, "invalid_client")


async def test_basic_failures_are_401_with_a_challenge(server):
    """§5.2: a failed Basic attempt gets 401 and ``WWW-Authenticate: Basic``."""
    secret = await server.add_client("svc")
    await server.add_client("off", disabled=True)
    results = [
        ("wrong secret", await with_header(server, basic("svc", secret + "x"))),
        ("empty secret", await with_header(server, basic("svc", ""))),
        ("unknown client", await with_header(server, basic("ghost", secret))),
        ("disabled", await with_header(server, basic("off", server.secrets["off"]))),
        ("id case", await with_header(server, basic("SVC", secret))),
    ]
    assert_all(results, 401, "invalid_client")
    assert all(challenged(response) for _, response in results)


async def test_post_failures_are_401(server):
    secret = await server.add_client("svc", auth="client_secret_post")
    await server.add_client("off", auth="client_secret_post", disabled=True)
    results = [
        ("wrong secret", await post_auth(server, "svc", secret[:-1])),
        ("unknown client", await post_auth(server, "ghost", secret)),
        ("disabled", await post_auth(server, "off", server.secrets["off"])),
    ]
    assert_all(results, 401, "invalid_client")


async def test_each_client_uses_its_registered_method(server):
    """RFC 7591 §2 ``token_endpoint_auth_method``: the other secret method is refused."""
    basic_secret = await server.add_client("b")
    post_secret = await server.add_client("p", auth="client_secret_post")
    assert (await post_auth(server, "p", post_secret)).status_code == 200
    assert (await with_header(server, basic("b", basic_secret))).status_code == 200
    results = [
        ("basic client by post", await post_auth(server, "b", basic_secret)),
        ("post client by basic", await with_header(server, basic("p", post_secret))),
    ]
    assert_all(results, 401, "invalid_client")


async def test_two_methods_at_once_is_invalid_request(server):
    """§2.3: the client MUST NOT use more than one authentication method per request."""
    secret = await server.add_client("svc")
    response = await with_header(server, basic("svc", secret), {"client_secret": secret})
    assert_oauth_error(response, 400, "invalid_request")


async def test_malformed_basic_headers(server):
    secret = await server.add_client("svc")
    headers = [
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(f"svc{secret}".encode()).decode(),  # no colon
        raw_basic(b"\xff\xfe:" + secret.encode()),  # not UTF-8
        raw_basic(b"%ff%fe:" + secret.encode()),  # escapes to non-UTF-8
        raw_basic(b":" + secret.encode()),  # empty id
        raw_basic(b"svc:" + secret.encode())[:-2],  # truncated base64
        "Basic",
        "Basic ",
        "Basic\t" + base64.b64encode(f"svc:{secret}".encode()).decode(),
        "Bearer " + secret,
        "Digest username=svc",
        raw_basic(b"a" * 300 + b":" + secret.encode()),
        b"Basic \x80",  # obs-text (RFC 9110 §5.5): real servers pass it through
        b"Basic c3Zj\xe9OnNlY3JldA==",
        b"Basic " + "ä".encode() + b":x",
    ]
    assert_all([(h[:40], await with_header(server, h)) for h in headers], 401, "invalid_client")


async def test_basic_scheme_is_case_insensitive(server):
    """RFC 7617 §2 / RFC 9110 §11.1: the scheme name is case-insensitive."""
    secret = await server.add_client("svc")
    header = basic("svc", secret).replace("Basic", "bAsIc")
    assert (await with_header(server, header)).status_code == 200


async def test_body_client_id_must_match_basic(server):
    secret = await server.add_client("svc")
    await server.add_client("other")
    results = [
        ("other id", await with_header(server, basic("svc", secret), {"client_id": "other"})),
        ("case", await with_header(server, basic("svc", secret), {"client_id": "Svc"})),
    ]
    assert_all(results, 401, "invalid_client")
    same = await with_header(server, basic("svc", secret), {"client_id": "svc"})
    assert same.status_code == 200


async def test_client_assertion_is_refused(server):
    """private_key_jwt is not enabled: an assertion never authenticates (RFC 7523 §3)."""
    secret = await server.add_client("svc")
    access_token = await server.access_token("svc")
    kind = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    forms = [
        {"client_assertion_type": kind, "client_assertion": access_token, "client_id": "svc"},
        {"client_assertion": access_token},
        {"client_assertion_type": kind},
    ]
    results = [(sorted(f), await server.http.post(TOKEN, data={**GRANT, **f})) for f in forms]
    alongside = await with_header(server, basic("svc", secret), forms[0])
    assert_all([*results, ("with basic", alongside)], 401, "invalid_client")


async def test_access_token_is_not_a_client_secret(server):
    await server.add_client("svc")
    await server.add_client("o", token_format="opaque")
    await server.add_client("p", auth="client_secret_post")
    jwt, opaque = await server.access_token("svc"), await server.access_token("o")
    results = [
        ("jwt as basic secret", await with_header(server, basic("svc", jwt))),
        ("jwt as post secret", await post_auth(server, "p", jwt)),
        ("opaque as post secret", await post_auth(server, "p", opaque)),
        ("opaque as its own secret", await with_header(server, basic("o", opaque))),
    ]
    assert_all(results, 401, "invalid_client")


async def test_form_urlencoded_basic_credentials(server):
    """RFC 6749 §2.3.1: id and secret are form-urlencoded before Base64."""
    await server.add_client("svc.a-b_c")
    secret = "tss_p+ss%w0rd:é x&y=z"
    server.remember(secret)
    await set_client(server, "svc.a-b_c", secret_hash=server.ctx.hasher.hash(secret))
    assert (await with_header(server, basic("svc.a-b_c", secret))).status_code == 200
    # Sent unencoded, '+' decodes to a space and '%w0' stays: the secret no longer matches.
    unencoded = raw_basic(f"svc.a-b_c:{secret}".encode())
    assert_oauth_error(await with_header(server, unencoded), 401, "invalid_client")

    await server.add_client("post.x-y_z", auth="client_secret_post")
    await set_client(server, "post.x-y_z", secret_hash=server.ctx.hasher.hash(secret))
    assert (await post_auth(server, "post.x-y_z", secret)).status_code == 200


async def test_client_of_another_tenant(server):
    """A client exists in exactly one tenant; its secret means nothing elsewhere."""
    await server.ctx.store.add_tenant(Tenant("other", "Other", server.clock.now))
    await server.ctx.keys.ensure("other", server.clock.now)
    secret = await server.add_client("svc")
    p_secret = await server.add_client("p", auth="client_secret_post")
    await server.add_client("svc", tenant="other")  # same id, its own secret
    results = [
        ("basic", await server.http.post("/t/other/token", data=GRANT, auth=("svc", secret))),
        ("post", await post_auth(server, "p", p_secret, tenant="other")),
    ]
    assert_all(results, 401, "invalid_client")


async def test_unknown_disabled_and_wrong_secret_all_compute_the_hash(server, monkeypatch):
    """§9 "constant time": the keyed hash runs once whether or not the client exists."""
    secret = await server.add_client("svc")
    await server.add_client("off", disabled=True)
    await server.add_client("p", auth="client_secret_post")
    calls: list[bytes | None] = []
    original = SecretHasher.verify

    def counting(self, candidate: str, stored: bytes | None) -> bool:
        calls.append(stored)
        return original(self, candidate, stored)

    monkeypatch.setattr(SecretHasher, "verify", counting)
    cases = [
        ("unknown", basic("ghost", secret)),
        ("wrong secret", basic("svc", "tss_wrong")),
        ("disabled", basic("off", server.secrets["off"])),
        ("wrong method", basic("p", server.secrets["p"])),
    ]
    stored = {}
    for name, header in cases:
        calls.clear()
        assert_oauth_error(await with_header(server, header), 401, "invalid_client")
        assert len(calls) == 1, (name, len(calls))
        stored[name] = calls[0]
    hashes = {c: server.ctx.hasher.hash(server.secrets[c]) for c in ("svc", "off", "p")}
    assert stored == {
        "unknown": None,
        "wrong secret": hashes["svc"],
        "disabled": hashes["off"],
        "wrong method": hashes["p"],
    }


async def test_failed_authentication_is_audited_without_the_secret(server):
    secret = await server.add_client("svc")
    wrong = "tss_" + "w" * 43
    with capture_logs() as logs:
        await with_header(server, basic("svc", wrong))
        await with_header(server, basic("ghost", secret))
        await server.http.post(TOKEN, data=GRANT, headers={"Authorization": "Basic %%%"})
    failed = [e for e in logs if e["event"] == "client.auth_failed"]
    reasons = {(e.get("client_id"), e["reason"]) for e in failed}
    assert reasons == {("svc", "bad_secret"), ("ghost", "unknown_client"), (None, "malformed")}
    for event in failed:
        assert event["tenant_id"] == "default"
        assert event["log_level"] == "info"
    rendered = repr(logs)
    for value in (wrong, secret, wrong[:12], secret[:12]):
        assert value not in rendered
