"""Hostile input at the browser endpoints: never a 5xx, never a redirect to an unregistered
place, every HTML answer with its frame and referrer protection (issue 5, SECURITY.md §8)."""

from __future__ import annotations

import functools
from urllib.parse import urlencode

import pytest
from _flow import REDIRECT, add_user, add_web_client, authorize_params, pkce_pair
from _oauth import RFC_ERRORS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PARAMS = ["response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
          "code_challenge", "code_challenge_method", "prompt", "max_age", "request_uri",
          "request", "resource", "response_mode", "interaction", "csrf", "email", "password",
          "decision", "logout", "id_token_hint", "post_logout_redirect_uri"]  # fmt: skip
KNOWN = ["code", "token", "web", "spa", REDIRECT, REDIRECT + "/", "https://evil.test/",
         "javascript:alert(1)", "openid data:read", "S256", "plain", "none", "login consent",
         "0", "-1", "urn:ietf:params:oauth:request_uri:x", "allow", "deny", "%zz", "\x00",
         "A" * 43, "eyJhbGciOiJub25lIn0.e30."]  # fmt: skip
chars = st.characters(codec="utf-8")
text = functools.partial(st.text, alphabet=chars)
values = st.one_of(text(max_size=30), st.sampled_from(KNOWN), st.just("x" * 5000))
pairs = st.lists(
    st.tuples(st.one_of(st.sampled_from(PARAMS), text(max_size=10)), values), max_size=10
)
ENDPOINTS = ["authorize", "login", "consent", "logout", "userinfo", "par"]
ALLOWED_TARGETS = (REDIRECT, "http://127.0.0.1:8800/t/default/", "https://app.example.test/bye")


class Target:
    def __init__(self, server) -> None:
        self.server = server

    def __repr__(self) -> str:
        return "Target(tenant default; clients web, spa; user ada)"


@pytest.fixture
async def target(server):
    await add_user(server)
    await add_web_client(server)
    await add_web_client(server, "spa", public=True, first_party=False)
    return Target(server)


def check(where, response) -> None:
    assert response.status_code < 500, where
    location = response.headers.get("location")
    if location is not None:
        assert location.startswith(ALLOWED_TARGETS), (where, location[:120])
    ctype = response.headers.get("content-type", "")
    if ctype.startswith("text/html"):
        assert response.headers["x-frame-options"] == "DENY", where
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["referrer-policy"] == "no-referrer"
    elif response.status_code >= 400 and ctype.startswith("application/json"):
        body = response.json()
        if body:
            assert body.get("error") in RFC_ERRORS | {"invalid_token", "insufficient_scope",
                                                      "invalid_request_uri"}, where  # fmt: skip


@SETTINGS
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    method=st.sampled_from(["GET", "POST"]),
    query=pairs,
    body=pairs,
    start=st.booleans(),
)
async def test_arbitrary_page_requests_never_crash_or_redirect_elsewhere(
    target, endpoint, method, query, body, start
):
    server = target.server
    http = server.http
    if start:  # begin a real interaction so cookies and ids are live
        _, challenge = pkce_pair()
        await http.get(f"{server.issuer}/authorize", params=authorize_params("web", challenge))
    url = f"{server.issuer}/{endpoint}"
    if query:
        url += "?" + urlencode(query)
    response = await http.request(
        method,
        url,
        content=urlencode(body).encode() if method == "POST" else None,
        headers={"Content-Type": "application/x-www-form-urlencoded"} if method == "POST" else {},
    )
    check((method, endpoint), response)
