"""``POST /token`` with ``client_credentials``: what it issues, and every request it refuses.

RFC 6749 §4.4 (grant), §3.2/§3.3 (endpoint, scope), §5.2 (errors); RFC 8707 (resource);
RFC 9068 (JWT access tokens). Client authentication has its own file.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from _oauth import (
    FORM,
    active_kid,
    assert_all,
    assert_each,
    assert_oauth_error,
    basic,
    header_of,
    lenient_http,
    set_client,
    verified_claims,
)
from harness import API, T0

from tessera.errors import TesseraError
from tessera.server.issuance import opaque_hash

REPORTS = "https://reports.example.test"
TOKEN = "/t/default/token"
CLAIMS = {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "tenant_id"}


async def post(server, content: bytes | str, content_type: str | None = FORM, client="svc"):
    headers = {"Authorization": basic(client, server.secrets[client])}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return await server.http.post(TOKEN, content=content, headers=headers)


# ------------------------------------------------------------------------------ issuance


async def test_jwt_access_token_follows_rfc_9068(server):
    await server.add_client("svc")
    response = await server.token("svc", scope="data:read")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    # §4.4.3: no refresh token for client credentials.
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == "data:read"

    token = body["access_token"]
    header = header_of(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    assert header["kid"] == await active_kid(server)
    assert not {"jku", "jwk", "x5u", "x5c"} & set(header)

    claims = await verified_claims(server, token, API)
    assert set(claims) == CLAIMS
    assert claims["iss"] == server.issuer == "http://127.0.0.1:8800/t/default"
    assert claims["sub"] == "client:svc"
    assert claims["aud"] == API
    assert claims["iat"] == claims["nbf"] == int(T0)
    assert claims["exp"] == int(T0) + 300
    assert re.fullmatch(r"[0-9a-f]{32}", claims["jti"])
    assert claims["client_id"] == "svc"
    assert claims["scope"] == "data:read"
    assert claims["tenant_id"] == "default"

    again = await server.access_token("svc", scope="data:read")
    assert (await verified_claims(server, again, API))["jti"] != claims["jti"]


async def test_opaque_access_token_is_random_and_stored_hashed(server):
    await server.add_client("opq", token_format="opaque")
    body = (await server.token("opq")).json()
    token = body["access_token"]
    assert body["expires_in"] == 300
    assert re.fullmatch(r"tat_[A-Za-z0-9_-]{43}", token)  # 256 random bits
    record = await server.ctx.store.get_opaque(opaque_hash(token))
    assert record is not None
    assert record.client_id == "opq"
    assert record.subject == "client:opq"
    assert record.audience == (API,)
    assert record.scope == "data:read data:write"
    assert record.expires_at == record.issued_at + 300 == int(T0) + 300
    assert token not in repr(record)


async def test_client_ttl_override(server):
    await server.add_client("svc")
    await set_client(server, "svc", access_token_ttl=600)
    body = (await server.token("svc")).json()
    assert body["expires_in"] == 600
    claims = await verified_claims(server, body["access_token"], API)
    assert claims["exp"] - claims["iat"] == 600


async def test_client_ttl_outside_design_range_is_never_honoured(server):
    """DESIGN "Defaults": M2M access tokens live 1-15 min, whatever the client record says."""
    honoured = {}
    for ttl in (3600, 86_400, -5):
        client_id = f"svc{ttl}"
        await server.add_client(client_id)
        try:
            await set_client(server, client_id, access_token_ttl=ttl)
        except (ValueError, TesseraError):
            continue  # refused at registration: fine
        response = await server.token(client_id)
        assert response.status_code in {200, 400}, response.status_code
        if response.status_code == 200 and not 60 <= response.json()["expires_in"] <= 900:
            honoured[ttl] = response.json()["expires_in"]
    assert not honoured, f"client ttl outside 60-900 s honoured: {honoured}"


async def test_scope_is_a_sorted_subset_of_the_clients(server):
    await server.add_client("svc")
    cases = [("data:write", "data:write"), ("data:write data:read", "data:read data:write")]
    for requested, granted in cases:
        body = (await server.token("svc", scope=requested)).json()
        assert body["scope"] == granted
        assert (await verified_claims(server, body["access_token"], API))["scope"] == granted


async def test_no_scope_gives_every_client_scope_sorted(server):
    await server.add_client("svc", scopes="zeta alpha mid")
    assert (await server.token("svc")).json()["scope"] == "alpha mid zeta"


async def test_resource_selects_the_audience(server):
    """RFC 8707 §2: ``resource`` picks one of the client's audiences; absent → the first."""
    await server.add_client("svc", audiences=(API, REPORTS))
    for resource, audience in [(None, API), (API, API), (REPORTS, REPORTS)]:
        form = {} if resource is None else {"resource": resource}
        token = await server.access_token("svc", **form)
        assert (await verified_claims(server, token, audience))["aud"] == audience


async def test_client_subject_never_looks_like_a_user(server):
    """RFC 9700 §4.15: user subjects are colon-free UUIDs; a client's is ``client:<id>``."""
    for client_id in ["svc", "0b6f1c2e-9d8a-4f7e-8c1d-2e3f4a5b6c7d", "a.b-c_d"]:
        await server.add_client(client_id)
        claims = await verified_claims(server, await server.access_token(client_id), API)
        assert claims["sub"] == f"client:{client_id}"
        assert claims["sub"] != client_id
        assert ":" in claims["sub"]


async def test_form_content_type_with_charset_is_accepted(server):
    await server.add_client("svc")
    response = await post(server, "grant_type=client_credentials", f"{FORM}; charset=UTF-8")
    assert response.status_code == 200, response.text


async def test_blank_parameters_count_as_omitted(server):
    """RFC 6749 §3.1: a parameter sent without a value is treated as omitted."""
    await server.add_client("svc")
    response = await post(server, "grant_type=client_credentials&scope=&resource=")
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "data:read data:write"


async def test_unused_parameters_are_ignored(server):
    """RFC 6749 §3.2: the server MUST ignore unrecognized request parameters."""
    await server.add_client("svc")
    response = await post(server, "grant_type=client_credentials&code=abc&foo=bar&state=x")
    assert response.status_code == 200, response.status_code


# ------------------------------------------------------------------------------ refusals


async def send_all(server, bodies, content_type=FORM):
    return [(body, await post(server, body, content_type)) for body in bodies]


async def test_grant_type_refusals(server):
    """RFC 6749 §5.2; OAuth 2.1 §10: no password, no implicit grant."""
    await server.add_client("svc")
    assert_all(await send_all(server, ["", "scope=data%3Aread"]), 400, "invalid_request")
    refused = [
        "grant_type=password&username=a&password=b",
        "grant_type=implicit",
        "grant_type=urn%3Aexample%3Aunknown",
        "grant_type=CLIENT_CREDENTIALS",
        "grant_type=client_credentials%20",
    ]
    assert_all(await send_all(server, refused), 400, "unsupported_grant_type")


async def test_repeated_parameters(server):
    """RFC 6749 §3.2: request parameters MUST NOT be included more than once."""
    await server.add_client("svc")
    bodies = [
        "grant_type=client_credentials&grant_type=client_credentials",
        "grant_type=client_credentials&grant_type=password",
        "grant_type=client_credentials&scope=data%3Aread&scope=data%3Aread",
    ]
    assert_all(await send_all(server, bodies), 400, "invalid_request")


async def test_client_not_registered_for_the_grant(server):
    await server.add_client("svc", grants=frozenset({"authorization_code"}))
    assert_oauth_error(await server.token("svc"), 400, "unauthorized_client")


async def test_scope_refusals(server):
    """RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), one space between."""
    await server.add_client("svc")
    scopes = ["data:admin", "data:read data:admin", 'a"b', "data:read  data:write",
              " data:read", "data:read ", "data:read\tdata:write", "data\\read", "dätä",
              "data:read\x00", "data:read\ndata:write"]  # fmt: skip
    results = [(scope, await server.token("svc", scope=scope)) for scope in scopes]
    assert_all(results, 400, "invalid_scope")


async def test_resource_refusals(server):
    """RFC 8707 §2: an allowed absolute URI without a fragment; one per token here."""
    await server.add_client("svc", audiences=(API, REPORTS))
    cases = [["https://evil.example.test"], ["/api"], ["api.example.test"], [f"{API}#frag"],
             [f"{API}#"], [API + "/"], [API.upper()], [API, REPORTS], [API, API]]  # fmt: skip
    bodies = [
        "grant_type=client_credentials&" + "&".join(f"resource={quote(r, safe='')}" for r in rs)
        for rs in cases
    ]
    assert_all(await send_all(server, bodies), 400, "invalid_target")


async def test_only_form_bodies(server):
    """RFC 6749 §3.2: application/x-www-form-urlencoded only."""
    await server.add_client("svc")
    multipart = (
        '--b\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\n'
        "client_credentials\r\n--b--\r\n"
    )
    cases = [
        ('{"grant_type": "client_credentials"}', "application/json"),
        ("grant_type=client_credentials", "text/plain"),
        ("grant_type=client_credentials", None),
        ("grant_type=client_credentials", "application/x-www-form-urlencodedx"),
        ("grant_type=client_credentials", "multipart/form-data; boundary=b"),
        (multipart, "multipart/form-data; boundary=b"),
    ]
    results = [(case, await post(server, *case)) for case in cases]
    assert_all(results, 400, "invalid_request")


async def test_body_size_limits(server):
    """16 KiB per body, declared or streamed; at most 64 fields."""
    await server.add_client("svc")
    big = "grant_type=client_credentials&pad=" + "a" * (16 * 1024)
    many = "grant_type=client_credentials&" + "&".join(f"p{i}=v" for i in range(100))

    async def chunks():
        yield b"grant_type=client_credentials&pad="
        for _ in range(40):
            yield b"a" * 1024

    headers = {"Authorization": basic("svc", server.secrets["svc"]), "Content-Type": FORM}
    streamed = await server.http.post(TOKEN, content=chunks(), headers=headers)
    assert "content-length" not in streamed.request.headers
    results = [("declared", await post(server, big)), ("fields", await post(server, many))]
    assert_all([*results, ("streamed", streamed)], 400, "invalid_request")


async def test_non_utf8_body(server):
    await server.add_client("svc")
    bodies = [
        b"grant_type=client_credentials&x=\xff\xfe",
        b"grant_type=client_credentials&x=%ff%fe",
        b"grant_type=client_credentials&x=%C3%28",
        b"grant_type=client_credentials&x=\xed\xa0\x80",
        b"grant_type=client_credentials&x=%ED%A0%80",
    ]
    assert_all(await send_all(server, bodies), 400, "invalid_request")


async def test_bad_percent_encoding(server):
    """A strict form reader refuses escapes that parsers disagree on."""
    await server.add_client("svc")
    bodies = [
        b"grant_type=client_credentials&x=%zz",
        b"grant_type=client_credentials&x=%3",
        b"grant_type=client_credentials&x=%",
    ]
    assert_all(await send_all(server, bodies), 400, "invalid_request")


async def test_get_token_is_405(server):
    response = await server.http.get(TOKEN, params={"grant_type": "client_credentials"})
    assert response.status_code == 405
    assert "POST" in response.headers.get("allow", "")


async def test_405_and_404_are_oauth_json_errors(server):
    """DESIGN "Errors": every error of the server is §5.2 JSON with ``no-store``."""
    assert_oauth_error(await server.http.get(TOKEN), 405, "invalid_request")
    assert_oauth_error(await server.http.post("/t/default/nope", data={}), 404, "invalid_request")


async def test_unknown_tenant_is_404(server):
    await server.add_client("svc")
    results = []
    for tenant in ["nope", "DEFAULT", "default%20", "default.", "%C3%A9"]:
        response = await server.http.post(
            f"/t/{tenant}/token",
            data={"grant_type": "client_credentials"},
            auth=("svc", server.secrets["svc"]),
        )
        results.append((tenant, response))
    assert_all(results, 404, "invalid_request")


async def test_nul_in_tenant_or_client_id_is_a_4xx_not_a_500(server):
    """PostgreSQL refuses NUL in text; the server must answer before the query fails."""
    await server.add_client("svc")
    form = {"grant_type": "client_credentials"}
    post_form = {**form, "client_id": "s\x00vc", "client_secret": "x"}
    async with lenient_http(server) as http:
        assert_each(
            [
                ("tenant", await http.post("/t/%00/token", data=form), 404, "invalid_request"),
                ("jwks", await http.get("/t/%00/jwks.json"), 404, "invalid_request"),
                ("basic id", await http.post(TOKEN, data=form, auth=("s\x00vc", "x")), 401,
                 "invalid_client"),
                ("post id", await http.post(TOKEN, data=post_form), 401, "invalid_client"),
            ]
        )  # fmt: skip
