"""Redirect URI registration and matching (SECURITY.md §8; RFC 9700 §4.1.3, RFC 8252 §7)."""

from __future__ import annotations

import pytest

from tessera.server.redirects import InvalidRedirectUri, check_registrable, match_redirect_uri


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.test/callback",
        "https://app.example.test/cb?tenant=a",
        "http://127.0.0.1/cb",
        "http://127.0.0.1:8080/cb",
        "http://[::1]:8080/cb",
        "com.example.app:/oauth2redirect",
    ],
)
def test_registrable(uri):
    assert check_registrable(uri) == uri


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.test/cb#frag",
        "https://app.example.test/cb#",
        "http://app.example.test/cb",  # plain http off loopback
        "http://localhost:8080/cb",  # RFC 8252 §8.3
        "http://127.0.0.2/cb",
        "javascript:alert(1)",
        "data:text/html,hi",
        "file:///etc/passwd",
        "vbscript:x",
        "ftp://app.example.test/cb",
        "myapp:/cb",  # not reverse-domain
        "com.example.app://host/cb",  # private-use schemes carry no authority
        "https://user:pw@app.example.test/cb",
        "https://*.example.test/cb",
        "https://app.example.test/a/../cb",
        "https://app.example.test/%2e%2e/cb",
        "https://bücher.example/cb",
        "https:///cb",
        "https://app.example.test/c b",
        "https://app.example.test\\@evil.test/cb",
        "",
        "https://app.example.test/" + "a" * 2100,
    ],
)
def test_not_registrable(uri):
    with pytest.raises(InvalidRedirectUri):
        check_registrable(uri)


REGISTERED = ("https://app.example.test/callback", "http://127.0.0.1/cb")


@pytest.mark.parametrize(
    ("requested", "matches"),
    [
        ("https://app.example.test/callback", True),
        ("https://app.example.test/callback/", False),
        ("https://APP.example.test/callback", False),
        ("https://app.example.test:443/callback", False),
        ("https://app.example.test/callback?x=1", False),
        ("https://app.example.test/Callback", False),
        ("http://127.0.0.1:50000/cb", True),
        ("http://127.0.0.1/cb", True),
        ("http://127.0.0.1:50000/cb/", False),
        ("http://127.0.0.1:050000/cb", False),
        ("http://127.0.0.1:70000/cb", False),
        ("http://[::1]:50000/cb", False),  # another loopback address is another URI
        ("http://127.0.0.1:50000@evil.test/cb", False),
    ],
)
def test_matching_is_exact_except_the_loopback_port(requested, matches):
    assert (match_redirect_uri(requested, REGISTERED) == requested) is matches
