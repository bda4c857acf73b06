"""Remote JWKS and discovery against an independent issuer (PyJWT tokens, real HTTP server).

The issuer is a threaded ``http.server`` on 127.0.0.1 that counts requests per path, so
refetch limits are measured, not assumed. Time is a fake clock; nothing sleeps.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tessera.errors import ConfigurationError, FetchError, TokenError, UnknownKey
from tessera.jose.jwk import SigningKey
from tessera.verify import JwksCachePolicy, RemoteJwks, Verifier
from tessera.verify.fetch import FetchPolicy, fetch_json

AUD = "https://api.example.test"
NOW = 1_800_000_000


class Issuer:
    """A minimal OIDC issuer: discovery + JWKS, with knobs for hostile behaviour."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.keys: list[tuple[str, Any]] = []  # (kid, private key)
        self.extra_members: list[dict[str, Any]] = []
        self.status = 200
        self.cache_control = "public, max-age=300"
        self.redirect_to: str | None = None
        self.issuer_override: str | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add_key(self) -> str:
        kid = secrets.token_hex(4)
        self.keys.append((kid, ec.generate_private_key(ec.SECP256R1())))
        return kid

    def token(self, kid: str | None = None, *, header_kid: str | None = None, **claims: Any) -> str:
        """A token signed by key ``kid`` (default: newest), naming ``header_kid`` if given."""
        kid = kid or self.keys[-1][0]
        private = dict(self.keys)[kid]
        body = {
            "iss": self.url,
            "sub": "user-1",
            "aud": AUD,
            "iat": NOW,
            "nbf": NOW,
            "exp": NOW + 300,
            "jti": secrets.token_hex(8),
            **claims,
        }
        headers = {"kid": header_kid or kid, "typ": "at+jwt"}
        return pyjwt.encode(body, private, algorithm="ES256", headers=headers)

    def jwks(self) -> dict[str, Any]:
        members = []
        for kid, private in self.keys:
            jwk = json.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
            members.append({**jwk, "kid": kid, "alg": "ES256", "use": "sig"})
        return {"keys": members + self.extra_members}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.hits[self.path] += 1
                if issuer.redirect_to and self.path == "/jwks.json":
                    self.send_response(302)
                    self.send_header("Location", issuer.redirect_to)
                    self.end_headers()
                    return
                if self.path == "/.well-known/openid-configuration":
                    body: Any = {
                        "issuer": issuer.issuer_override or issuer.url,
                        "jwks_uri": f"{issuer.url}/jwks.json",
                    }
                elif self.path == "/jwks.json" and issuer.status == 200:
                    body = issuer.jwks()
                else:
                    self.send_response(issuer.status if self.path == "/jwks.json" else 404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", issuer.cache_control)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                return

        return Handler


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    server = Issuer()
    server.add_key()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


async def _verifier(issuer: Issuer, clock: Clock, **options: Any) -> Verifier:
    return await Verifier.from_issuer(
        issuer.url, audience=AUD, algorithms=["ES256"], clock=clock, **options
    )


async def test_discovers_pins_jwks_and_verifies_foreign_tokens(issuer):
    clock = Clock()
    verifier = await _verifier(issuer, clock)
    claims = await verifier.verify_async(issuer.token(), now=clock.now)
    assert claims.subject == "user-1"
    assert issuer.hits["/.well-known/openid-configuration"] == 1
    assert issuer.hits["/jwks.json"] == 1


async def test_metadata_naming_another_issuer_is_refused(issuer):
    """RFC 8414 §3.3: the metadata's issuer must equal the configured one exactly."""
    issuer.issuer_override = issuer.url + "/"
    with pytest.raises(ConfigurationError):
        await _verifier(issuer, Clock())


async def test_kid_flood_costs_at_most_one_fetch_per_cooldown(issuer):
    """SECURITY.md §2: 1000 unknown kids → refused, and at most one refetch per cool-down."""
    clock = Clock()
    verifier = await _verifier(issuer, clock)
    with pytest.raises(UnknownKey):  # within the cool-down of the initial fetch: no refetch
        await verifier.verify_async(issuer.token(header_kid="early"), now=clock.now)
    assert issuer.hits["/jwks.json"] == 1
    clock.now += 31
    for _ in range(1000):
        token = issuer.token(header_kid=secrets.token_hex(6))
        with pytest.raises(UnknownKey):
            await verifier.verify_async(token, now=clock.now)
    assert issuer.hits["/jwks.json"] == 2  # the initial fetch + one refetch
    clock.now += 31  # after the next cool-down, one more refetch is allowed
    with pytest.raises(UnknownKey):
        await verifier.verify_async(issuer.token(header_kid="nope"), now=clock.now)
    assert issuer.hits["/jwks.json"] == 3


async def test_issuer_rotation_is_picked_up_without_a_failed_request(issuer):
    """A new kid that signs before we saw it: one refetch, then it verifies."""
    clock = Clock()
    verifier = await _verifier(issuer, clock)
    clock.now += 31
    new_kid = issuer.add_key()
    claims = await verifier.verify_async(issuer.token(kid=new_kid), now=clock.now)
    assert claims.subject == "user-1"


async def test_from_issuer_fails_at_start_when_the_jwks_cannot_be_fetched(issuer):
    issuer.status = 503
    with pytest.raises(FetchError):
        await _verifier(issuer, Clock())


async def test_failed_fetch_keeps_cached_keys(issuer):
    clock = Clock()
    verifier = await _verifier(issuer, clock)
    token = issuer.token()
    issuer.status = 500
    clock.now += 400  # past max-age: a background refresh fails
    assert (await verifier.verify_async(token, now=clock.now - 300)).subject == "user-1"
    keys = verifier._keys
    assert isinstance(keys, RemoteJwks)
    await keys.refresh()
    assert keys.failures >= 1
    assert verifier.verify(token, now=NOW + 10).subject == "user-1"


async def test_cache_control_max_age_is_honoured_within_bounds(issuer):
    issuer.cache_control = "max-age=5"  # below min_ttl: clamped up
    clock = Clock()
    policy = JwksCachePolicy(min_ttl=60, max_ttl=600)
    verifier = await _verifier(issuer, clock, jwks_policy=policy)
    keys = verifier._keys
    assert isinstance(keys, RemoteJwks)
    assert keys.expires_at == clock.now + 60
    issuer.cache_control = "max-age=999999"
    await keys.refresh()
    assert keys.expires_at == clock.now + 600


async def test_bad_members_are_dropped_good_keys_stay(issuer):
    """SECURITY.md §5: a member with private parts and an RSA < 2048 key are refused."""
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the attack
    weak_jwk = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(weak.public_key()))
    leaked = SigningKey.generate("ES256").export_private_jwk()
    issuer.extra_members = [{**weak_jwk, "kid": "weak", "alg": "RS256"}, leaked]
    clock = Clock()
    verifier = await _verifier(issuer, clock)
    keys = verifier._keys
    assert isinstance(keys, RemoteJwks)
    assert len(keys.rejected) == 2
    assert "weak" not in keys.keys
    assert (await verifier.verify_async(issuer.token(), now=clock.now)).subject == "user-1"


async def test_refresh_keeps_key_identity_so_the_token_cache_survives(issuer):
    clock = Clock()
    verifier = await _verifier(issuer, clock, cache_size=16)
    token = issuer.token()
    await verifier.verify_async(token, now=clock.now)
    keys = verifier._keys
    assert isinstance(keys, RemoteJwks)
    await keys.refresh()
    await verifier.verify_async(token, now=clock.now)
    assert verifier.cache is not None
    assert verifier.cache.hits == 1


async def test_cross_origin_redirect_is_refused(issuer):
    issuer.redirect_to = "http://127.0.0.2:9/jwks.json"
    async with httpx.AsyncClient() as client:
        with pytest.raises(FetchError):
            await fetch_json(client, f"{issuer.url}/jwks.json", FetchPolicy())


async def test_response_over_the_size_cap_is_refused(issuer):
    issuer.extra_members = [{"kty": "oct", "k": "A" * 4000, "kid": f"k{i}"} for i in range(50)]
    async with httpx.AsyncClient() as client:
        with pytest.raises(FetchError):
            await fetch_json(client, f"{issuer.url}/jwks.json", FetchPolicy(max_bytes=10_000))


def test_plain_http_is_refused_for_non_loopback_hosts():
    with pytest.raises(ConfigurationError):
        RemoteJwks("http://issuer.example.com/jwks.json", algorithms=["ES256"])
    RemoteJwks("https://issuer.example.com/jwks.json", algorithms=["ES256"])


async def test_tokens_of_the_issuer_with_a_foreign_iss_are_refused(issuer):
    clock = Clock()
    verifier = await _verifier(issuer, clock)
    with pytest.raises(TokenError):
        await verifier.verify_async(issuer.token(iss="https://evil.example"), now=clock.now)


def test_sync_refresh_for_code_without_an_event_loop(issuer):
    keys = RemoteJwks(f"{issuer.url}/jwks.json", algorithms=["ES256"])
    keys.refresh_sync()
    verifier = Verifier(issuer=issuer.url, audience=AUD, algorithms=["ES256"], keys=keys)
    assert verifier.verify(issuer.token(), now=NOW + 1).subject == "user-1"
