"""SECURITY.md §8: every attack on the authorization endpoint, each one refused as it must be."""

from __future__ import annotations

from dataclasses import replace

import pytest
from _flow import (
    REDIRECT,
    add_user,
    add_web_client,
    authorize_params,
    location_params,
    pkce_pair,
)

_EVIL_REDIRECTS = [
    REDIRECT + "/",  # trailing slash
    REDIRECT.upper(),
    "https://APP.example.test/callback",  # case of the host
    "https://app.example.test:443/callback",  # explicit port
    "https://app.example.test:8443/callback",
    REDIRECT + "?x=1",  # extra query
    REDIRECT + "#frag",
    "https://user@app.example.test/callback",  # userinfo
    "https://app.example.test@evil.test/callback",
    "https://app.example.test/callback/../evil",
    "https://app.example.test/x/../callback",
    "https://xn--pp-xla.example.test/callback",  # punycode look-alike
    "https://app.example.test.evil.test/callback",
    "javascript:alert(1)//https://app.example.test/callback",
    "http://app.example.test/callback",  # downgrade
    "https://evil.test/callback",
    "",
]


@pytest.fixture
async def web(server):
    await add_user(server)
    await add_web_client(
        server,
        redirect_uris=(REDIRECT, "http://127.0.0.1/cb", "http://[::1]:8000/cb"),
    )
    return server


def assert_error_page(response, error: str = "invalid_request") -> None:
    assert response.status_code == 400, response.status_code
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert error in response.text
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("uri", _EVIL_REDIRECTS)
async def test_unregistered_redirect_uri_is_an_error_page_never_a_redirect(web, uri):
    _, challenge = pkce_pair()
    params = authorize_params("web", challenge, redirect_uri=uri)
    response = await web.http.get(f"{web.issuer}/authorize", params=params)
    assert_error_page(response)


async def test_missing_redirect_uri_and_unknown_client_are_error_pages(web):
    _, challenge = pkce_pair()
    params = authorize_params("web", challenge)
    del params["redirect_uri"]
    assert_error_page(await web.http.get(f"{web.issuer}/authorize", params=params))
    params = authorize_params("nobody", challenge)
    assert_error_page(await web.http.get(f"{web.issuer}/authorize", params=params))


@pytest.mark.parametrize(
    "uri",
    ["http://127.0.0.1:51234/cb", "http://127.0.0.1/cb", "http://[::1]:1/cb", "http://[::1]/cb"],
)
async def test_loopback_redirect_may_vary_only_the_port(web, uri):
    _, challenge = pkce_pair()
    params = authorize_params("web", challenge, redirect_uri=uri)
    response = await web.http.get(f"{web.issuer}/authorize", params=params)
    assert response.status_code == 303
    assert "/login?" in response.headers["location"]


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:51234/cb/",
        "http://127.0.0.1:51234/CB",
        "http://127.0.0.2:51234/cb",
        "http://localhost:51234/cb",
        "http://127.0.0.1:0051234/cb",
        "http://127.0.0.1:99999/cb",
        "http://127.0.0.1:80@evil.test/cb",
    ],
)
async def test_loopback_variation_beyond_the_port_is_refused(web, uri):
    _, challenge = pkce_pair()
    params = authorize_params("web", challenge, redirect_uri=uri)
    assert_error_page(await web.http.get(f"{web.issuer}/authorize", params=params))


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"scope": "admin"}, "invalid_scope"),
        ({"scope": "openid\x00"}, "invalid_scope"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": ""}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"code_challenge": "!" * 43}, "invalid_request"),
        ({"code_challenge": ""}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"prompt": "select_everything"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "invalid_request"),
        ({"resource": "https://other.example.test"}, "invalid_target"),
    ],
)
async def test_bad_request_with_a_registered_redirect_goes_back_with_error_state_iss(
    web, change, error
):
    _, challenge = pkce_pair()
    params = {**authorize_params("web", challenge), **change}
    if change.get("code_challenge_method") == "":
        del params["code_challenge_method"]
    if change.get("code_challenge") == "":
        del params["code_challenge"]
    response = await web.http.get(f"{web.issuer}/authorize", params=params)
    got = location_params(response)
    assert response.headers["location"].startswith(REDIRECT + "?")
    assert got["error"] == error
    assert got["state"] == params["state"]
    assert got["iss"] == web.issuer
    assert "code" not in got


@pytest.mark.parametrize(
    "uri", ["https://evil.test/req", "urn:ietf:params:oauth:request_uri:unknown", "x" * 300]
)
async def test_request_uri_that_is_not_a_live_pushed_request_is_an_error_page(web, uri):
    _, challenge = pkce_pair()
    params = {**authorize_params("web", challenge), "request_uri": uri}
    assert_error_page(
        await web.http.get(f"{web.issuer}/authorize", params=params), "invalid_request_uri"
    )


async def test_missing_pkce_is_refused(web):
    _, challenge = pkce_pair()
    params = authorize_params("web", challenge)
    del params["code_challenge"]
    del params["code_challenge_method"]
    got = location_params(await web.http.get(f"{web.issuer}/authorize", params=params))
    assert got["error"] == "invalid_request"


async def test_repeated_parameter_is_refused(web):
    _, challenge = pkce_pair()
    query = "&".join(f"{k}={v}" for k, v in authorize_params("web", challenge).items())
    response = await web.http.get(f"{web.issuer}/authorize?{query}&scope=openid")
    assert_error_page(response)


async def test_client_without_the_code_grant_cannot_start_the_flow(web):
    await web.add_client("svc")
    _, challenge = pkce_pair()
    response = await web.http.get(
        f"{web.issuer}/authorize", params=authorize_params("svc", challenge)
    )
    assert_error_page(response, "unauthorized_client")


async def test_disabled_client_is_refused(server):
    await add_web_client(server)
    client = await server.ctx.store.get_client("default", "web")
    await server.ctx.store.replace_client(replace(client, disabled=True))
    _, challenge = pkce_pair()
    response = await server.http.get(
        f"{server.issuer}/authorize", params=authorize_params("web", challenge)
    )
    assert_error_page(response)


async def test_login_page_has_frame_and_referrer_protection_and_no_next_parameter(web):
    _, challenge = pkce_pair()
    first = await web.http.get(f"{web.issuer}/authorize", params=authorize_params("web", challenge))
    assert first.status_code == 303
    page = await web.http.get(first.headers["location"] + "&next=https://evil.test/")
    assert page.status_code == 200
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert "evil.test" not in page.text


async def test_authorize_is_tenant_scoped(web):
    _, challenge = pkce_pair()
    response = await web.http.get("/t/nope/authorize", params=authorize_params("web", challenge))
    assert response.status_code == 404
    assert "location" not in response.headers
