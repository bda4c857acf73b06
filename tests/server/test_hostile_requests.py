"""Hostile HTTP input, generated: the server answers every request with a 2xx/4xx, never a 5xx.

Each example sends a short burst of arbitrary requests (methods, paths under ``/t/…``,
headers, form or raw bodies with control characters, huge and repeated values) and then a
valid token request, which must still succeed: the process keeps serving. Every error it
sends is RFC 6749 §5.2 JSON with ``Cache-Control: no-store``. The app runs with
``raise_app_exceptions=False`` so a crash shows up as the 500 a real client would get.
"""

from __future__ import annotations

import base64
import functools
from urllib.parse import quote, urlencode

import pytest
from _oauth import RFC_ERRORS, basic, lenient_http
from harness import API
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PARAMS = ["grant_type", "scope", "resource", "client_id", "client_secret", "token",
          "token_type_hint", "client_assertion", "client_assertion_type", "code",
          "refresh_token", "audience", "code_verifier"]  # fmt: skip
KNOWN = ["client_credentials", "password", "implicit", "refresh_token", "authorization_code",
         "data:read", "data:read data:write", "data:admin", API, f"{API}#x", "/rel",
         "https://evil.example", "fz", "rs", "tat_AAAA", "eyJhbGciOiJub25lIn0.e30.",
         "%zz"]  # fmt: skip
ENDPOINTS = ["token", "introspect", "revoke", "jwks.json", ".well-known/openid-configuration"]

chars = st.characters(codec="utf-8")  # every code point but lone surrogates
text = functools.partial(st.text, alphabet=chars)
huge = st.builds(lambda c, n: c * n, chars, st.integers(1_000, 17_000))
values = st.one_of(text(max_size=40), st.sampled_from(KNOWN), huge)
pairs = st.lists(st.tuples(st.one_of(st.sampled_from(PARAMS), text(max_size=12)), values),
                 max_size=8)  # fmt: skip
form_body = pairs.map(lambda p: urlencode(p).encode())
raw_body = st.one_of(st.binary(max_size=300), text(max_size=200).map(str.encode))
header_bytes = st.binary(max_size=80).map(lambda b: b.translate(None, b"\r\n\x00").strip())


@st.composite
def authorizations(draw) -> bytes | None:
    kinds = ["none", "valid", "valid-rs", "basic-text", "basic-bytes", "scheme", "raw"]
    kind = draw(st.sampled_from(kinds))
    if kind == "none":
        return None
    if kind in {"valid", "valid-rs"}:
        return b"<valid:" + kind.encode() + b">"  # filled in with the real secret at send time
    if kind == "basic-text":  # well-formed Basic, arbitrary id and secret
        return basic(draw(st.one_of(st.just("fz"), text(max_size=20))), draw(text())).encode()
    if kind == "basic-bytes":
        return b"Basic " + base64.b64encode(draw(st.binary(max_size=60)))
    if kind == "scheme":
        scheme = draw(st.sampled_from([b"Basic", b"basic", b"Bearer", b"DPoP", b"Digest", b""]))
        return scheme + b" " + draw(header_bytes)
    return draw(header_bytes)


content_types = st.one_of(
    st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=latin-1",
            "APPLICATION/X-WWW-FORM-URLENCODED",
            "application/json",
            "text/plain",
            "multipart/form-data; boundary=x",
        ]
    ),
    st.none(),
    header_bytes,
)
segment = st.one_of(
    st.sampled_from(["default", "nope", "DEFAULT", ".", "..", "%2e%2e", "default%2F..", "%00"]),
    text(min_size=1, max_size=20).map(lambda s: quote(s, safe="")),
)
paths = st.one_of(
    st.builds(lambda t, e: f"/t/{t}/{e}", segment, st.sampled_from(ENDPOINTS)),
    st.builds(lambda t: f"/.well-known/oauth-authorization-server/t/{t}", segment),
    st.builds(lambda t, e: f"/t/{t}/{e}", segment, segment),
)
requests = st.fixed_dictionaries(
    {
        "method": st.one_of(
            st.just("POST"),
            st.sampled_from(["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE"]),
            text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8),
        ),
        "path": st.one_of(st.sampled_from([f"/t/default/{e}" for e in ENDPOINTS]), paths),
        "auth": authorizations(),
        "content_type": content_types,
        "body": st.one_of(form_body, raw_body),
    }
)


class Target:
    """The harness behind a short ``repr`` (Hypothesis prints arguments of failing examples)."""

    def __init__(self, server) -> None:
        self.server = server

    def __repr__(self) -> str:
        return "Target(tenant default; clients fz, fzp, rs)"


@pytest.fixture
async def target(server):
    await server.add_client("fz", scopes="data:read data:write", audiences=(API,))
    await server.add_client("fzp", auth="client_secret_post", token_format="opaque")
    await server.add_client("rs", grants=frozenset(), introspect_for=(API,))
    return Target(server)


def headers_for(server, request) -> dict[str, bytes]:
    headers: dict[str, bytes] = {}
    auth = request["auth"]
    if auth is not None and auth.startswith(b"<valid:"):
        who = "rs" if b"rs" in auth else "fz"
        auth = basic(who, server.secrets[who]).encode()
    if auth is not None:
        headers["Authorization"] = auth
    ctype = request["content_type"]
    if ctype is not None:
        headers["Content-Type"] = ctype if isinstance(ctype, bytes) else ctype.encode()
    return headers


def check(request, response) -> None:
    where = (request["method"], request["path"][:80], response.status_code)
    assert response.status_code < 500, where
    if response.status_code >= 400 and request["method"] != "HEAD":
        is_json = response.headers.get("content-type", "").startswith("application/json")
        if not is_json and response.status_code in {404, 405}:
            return  # the router's own 404/405 (test_token_endpoint covers their format)
        assert is_json, where
        assert response.headers.get("cache-control") == "no-store", where
        assert response.json().get("error") in RFC_ERRORS, (where, response.text[:200])


async def still_serving(server, http) -> None:
    response = await http.post(
        "/t/default/token",
        data={"grant_type": "client_credentials"},
        auth=("fz", server.secrets["fz"]),
    )
    assert response.status_code == 200, response.text[:200]
    server.remember(response.json()["access_token"])


FORM = "application/x-www-form-urlencoded"
# Found by this test; kept as explicit examples so every run tries them.
NUL_TENANT = {"method": "POST", "path": "/t/%00/token", "auth": b"<valid:valid>",
              "content_type": FORM, "body": b"grant_type=x"}  # fmt: skip
NON_ASCII_BASIC = {**NUL_TENANT, "path": "/t/default/token", "auth": b"Basic \x80"}


@SETTINGS
@given(burst=st.lists(requests, min_size=1, max_size=4))
@example(burst=[NUL_TENANT])  # PostgreSQL refuses NUL in text
@example(burst=[NON_ASCII_BASIC])  # b64decode raises ValueError, not binascii.Error
async def test_arbitrary_requests_never_crash_the_server(target, burst):
    server = target.server
    async with lenient_http(server) as http:
        for request in burst:
            response = await http.request(
                request["method"],
                request["path"],
                content=request["body"],
                headers=headers_for(server, request),
            )
            check(request, response)
            if response.status_code == 200 and request["path"].endswith("/token"):
                server.remember(response.json()["access_token"])
        await still_serving(server, http)


@SETTINGS
@given(pairs=pairs, client=st.sampled_from(["fz", "fzp"]))
async def test_authenticated_token_requests_with_arbitrary_forms(target, pairs, client):
    """Past client authentication: every grant/scope/resource check sees hostile values."""
    server = target.server
    secret = server.secrets[client]
    extra = [("client_id", client), ("client_secret", secret)] if client == "fzp" else []
    headers = {"Authorization": basic(client, secret)} if client == "fz" else {}
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    body = urlencode([*extra, *pairs]).encode()
    async with lenient_http(server) as http:
        response = await http.post("/t/default/token", content=body, headers=headers)
        check({"method": "POST", "path": "/t/default/token"}, response)
        if response.status_code == 200:
            token = response.json()["access_token"]
            server.remember(token)
            assert response.headers["cache-control"] == "no-store"
        await still_serving(server, http)


mutations = st.tuples(st.integers(min_value=0), st.characters(codec="ascii"))


@SETTINGS
@given(
    token=st.one_of(text(min_size=1, max_size=300), st.sampled_from(KNOWN)),
    mutation=mutations,
)
async def test_introspection_of_arbitrary_tokens_says_only_inactive(target, token, mutation):
    """RFC 7662 §2.2: an arbitrary string, or one character changed in a valid token."""
    server = target.server
    async with lenient_http(server) as http:
        valid = (
            await http.post(
                "/t/default/token",
                data={"grant_type": "client_credentials"},
                auth=("fz", server.secrets["fz"]),
            )
        ).json()["access_token"]
        server.remember(valid)
        position, char = mutation
        position %= len(valid)
        mutated = valid[:position] + char + valid[position + 1 :]
        for candidate in (token, mutated):
            if candidate == valid:
                continue
            response = await http.post(
                "/t/default/introspect",
                data={"token": candidate},
                auth=("rs", server.secrets["rs"]),
            )
            assert response.status_code == 200, response.status_code
            assert response.content == b'{"active":false}', (position, char)
