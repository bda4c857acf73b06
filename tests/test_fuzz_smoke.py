"""The fuzz harness itself, in CI: it imports without atheris and survives a random budget.

The real fuzzing (atheris, minutes to hours) is run by hand: see fuzz/README.md.
"""

from __future__ import annotations

import base64
import importlib.util
import random
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from tessera.errors import TesseraError
from tessera.jose import peek_unverified_header
from tessera.jose.jws import sign_compact

HARNESS = Path(__file__).resolve().parent.parent / "fuzz" / "fuzz_verify.py"
BUDGET = 2000


@pytest.fixture(scope="module")
def harness() -> ModuleType:
    """Load fuzz/fuzz_verify.py as if atheris were not installed."""
    saved = sys.modules.get("atheris")
    sys.modules["atheris"] = None  # type: ignore[assignment]  # makes `import atheris` fail
    try:
        spec = importlib.util.spec_from_file_location("fuzz_verify", HARNESS)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules["atheris"]
        else:
            sys.modules["atheris"] = saved
    assert module.atheris is None
    return module


def _mutate(rng: random.Random, data: bytes, splices: list[bytes]) -> bytes:
    """A few libFuzzer-like mutations: flip, insert, erase, splice a dictionary word."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        pos = rng.randint(0, len(buf))
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 2:
            del buf[pos : pos + rng.randint(1, 16)]
        elif op == 3:
            buf[pos:pos] = rng.choice(splices)
        else:
            buf[pos:pos] = bytes([rng.choice(b'[]{}":,0\x00')]) * rng.randint(1, 64)
    return bytes(buf)


def test_seeds_reach_the_claims_layer(harness):
    """Structured seeds with the SIGN flag build tokens that verify: the point of the harness."""
    signed = [s for s in harness.structured_token_seeds() if s[0] & harness.SIGN == harness.SIGN]
    assert len(signed) >= 6
    for seed in signed:
        token = harness.build_structured_token(seed)
        verifier = harness.VERIFIERS[1 if seed[0] & harness.USE_HS256 else 0]
        claims = verifier.verify(token, now=harness.NOW)
        assert claims.issuer == harness.ISSUER
        expected = harness.HS256_KEY if seed[0] & harness.USE_HS256 else harness.ES256_KEY
        assert harness.peek_unverified_header(token)["kid"] == expected.kid


def test_seed_jwks_imports(harness):
    jwks_seed = next(s for s in harness.seed_inputs() if s.startswith(b'{"keys"'))
    assert harness.KeySet.from_jwks(jwks_seed).kids == harness.ES256_SET.kids


def test_harness_survives_a_random_budget(harness):
    rng = random.Random(20_240_611)  # noqa: S311 - reproducible inputs, not secrets
    seeds = harness.seed_inputs()
    splices = [word.encode() for word in harness.DICTIONARY]
    before = harness._Counter.executions
    started = time.perf_counter()
    for i in range(BUDGET):
        if i % 4 == 0:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
        else:
            data = _mutate(rng, rng.choice(seeds), splices)
        harness.TestOneInput(data)  # any non-Tessera exception fails the test
    assert harness._Counter.executions - before == BUDGET
    assert time.perf_counter() - started < 10


def test_harness_reports_a_non_tessera_exception(harness, monkeypatch):
    def boom(*_args, **_kwargs):
        raise KeyError("not a TesseraError")

    monkeypatch.setattr(harness, "peek_unverified_header", boom)
    with pytest.raises(KeyError):
        harness.TestOneInput(b"a.b.c")


# Inputs that escaped as RecursionError (not a TesseraError) from the JSON layer at commit
# 71d6d90: a nested claim in a validly signed token (Claims froze it recursively), and a
# nested lone-surrogate escape in an UNVERIFIED header (the surrogate walk recursed).


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def test_deeply_nested_claim_in_a_signed_token(harness):
    depth = 600  # within the JSON scanner's ~990 levels; Claims() once recursed 2 frames/level
    payload = (
        '{"iss":"%s","aud":"%s","exp":%d,"x":%s}'  # noqa: UP031 - JSON braces
        % (harness.ISSUER, harness.AUDIENCE, harness.NOW + 60, "[" * depth + "]" * depth)
    ).encode()
    token = sign_compact(payload, harness.ES256_KEY, typ="at+jwt")
    with pytest.raises(TesseraError):
        harness.VERIFIERS[0].verify(token, now=harness.NOW)


def test_deeply_nested_lone_surrogate_in_an_unverified_header():
    # The window where the scanner still parsed but the surrogate walk overflowed was ~3
    # levels wide and moves with the caller's stack depth: sweep across it.
    for depth in range(700, 1000):
        header = '{"alg":"ES256","x":' + "[" * depth + '"\\ud800"' + "]" * depth + "}"
        with pytest.raises(TesseraError):
            peek_unverified_header(_b64u(header.encode()) + ".e30.AAAA")
