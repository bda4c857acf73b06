"""The BFF's request rules in isolation: cookies, same-origin, CSRF, CORS (SECURITY.md §10)."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers
from starlette.requests import Request

from tessera.bff.config import BffSettings, load_bff_settings
from tessera.bff.guards import Refused, check_state_change, cors_headers, csrf_token, read_cookie
from tessera.errors import ConfigurationError
from tessera.secret import Secret
from tessera.server.server_keys import ServerKeys

BFF = "https://app.example.test"
FRIEND = "https://admin.example.test"
KEYS = ServerKeys(Secret(bytes(range(32))))
SID = b"\x01" * 32


def settings(**kw) -> BffSettings:
    values = {
        "issuer": "https://id.example.test/t/default",
        "client_id": "bff",
        "client_secret": "tss_x",
        "public_url": BFF,
        **kw,
    }
    return BffSettings(**values)


def request(method: str, headers: dict[str, str], query: str = "") -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request(
        {"type": "http", "method": method, "headers": raw, "query_string": query.encode()}
    )


def test_read_cookie_ignores_duplicates_and_lookalikes():
    assert read_cookie(Headers({"cookie": "__Host-x=a; y=b"}), "__Host-x") == "a"
    assert read_cookie(Headers({"cookie": "__Host-x=a; __Host-x=b"}), "__Host-x") is None
    assert read_cookie(Headers({"cookie": "x=a; __host-x=b"}), "__Host-x") is None
    assert read_cookie(Headers({"cookie": "__Host-x="}), "__Host-x") is None


def test_cors_echoes_only_configured_origins():
    closed = settings()
    assert cors_headers(request("GET", {"origin": FRIEND}), closed) == {}
    opened = settings(cors_origins=(FRIEND,))
    got = cors_headers(request("GET", {"origin": FRIEND}), opened)
    assert got["Access-Control-Allow-Origin"] == FRIEND
    assert got["Access-Control-Allow-Credentials"] == "true"
    assert cors_headers(request("GET", {"origin": "https://evil.test"}), opened) == {}
    assert cors_headers(request("GET", {"origin": "null"}), opened) == {}


def test_a_configured_origin_may_change_state_with_the_token():
    s = settings(cors_origins=(FRIEND,))
    token = csrf_token(KEYS, SID)
    check_state_change(request("POST", {"origin": FRIEND, "x-csrf-token": token}), s, KEYS, SID)
    with pytest.raises(Refused):
        check_state_change(request("POST", {"origin": FRIEND}), s, KEYS, SID)


def test_method_override_in_the_query_is_refused_too():
    token = csrf_token(KEYS, SID)
    with pytest.raises(Refused) as caught:
        check_state_change(
            request("POST", {"origin": BFF, "x-csrf-token": token}, "_method=DELETE"),
            settings(),
            KEYS,
            SID,
        )
    assert caught.value.status == 400


def test_csrf_token_is_bound_to_the_session():
    assert csrf_token(KEYS, SID) != csrf_token(KEYS, b"\x02" * 32)
    other = ServerKeys(Secret(bytes(range(1, 33))))
    assert csrf_token(KEYS, SID) != csrf_token(other, SID)


@pytest.mark.parametrize(
    "change",
    [
        {"public_url": "http://bff.example.test"},
        {"issuer": "http://id.example.test"},
        {"upstreams": {"data": "http://api.example.test"}},
        {"upstreams": {"../x": "https://api.example.test"}},
        {"scope": "data:read"},
        {"cors_origins": (BFF,)},
        {"public_url": "https://app.example.test/sub"},
    ],
)
def test_settings_refuse_unsafe_configurations(change):
    base = {
        "issuer": "https://id.example.test/t/default",
        "client_id": "bff",
        "client_secret": "tss_x",
        "public_url": BFF,
    }
    with pytest.raises(ConfigurationError):
        load_bff_settings(**{**base, **change})
