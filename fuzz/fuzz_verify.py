"""Coverage-guided fuzzing of Tessera's token and key-set parsers (atheris / libFuzzer).

Run ``python fuzz/fuzz_verify.py [libFuzzer flags] [CORPUS_DIR]`` (see fuzz/README.md).

Targets: :meth:`Verifier.verify` (an ES256 key set and an HS256 set, cached and not),
:func:`peek_unverified_header`, :func:`verify_compact` and :meth:`KeySet.from_jwks`
(``strict`` True and False). Every input is used three ways:

1. as a raw token: the bytes decoded as latin-1;
2. as a structured token: ``flags NUL header NUL payload NUL signature``, each part
   base64url-encoded by the harness and, when the flags say so, SIGNED with the real key.
   Random bytes never pass a signature check, so without this most of the parser behind it
   (payload JSON, claim rules, ``Claims``, the cache) would be unreachable;
3. as a JWKS: the bytes as a JSON document, and the parts as members of a structured JWK.

Any exception that is not a :class:`TesseraError` is a crash: it propagates to atheris,
which saves the input. A few cheap oracles also raise (as ``AssertionError``) when a token
that verified breaks an invariant the verifier promises.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

try:
    import atheris
except ImportError:  # the smoke test and the hypothesis fallback run without it
    atheris = None

if atheris is not None and __name__ == "__main__":
    # Coverage instrumentation only when fuzzing; an import (the smoke test) stays plain.
    with atheris.instrument_imports(include=["tessera"]):
        from cryptography.hazmat.primitives.asymmetric import ec

        from tessera.errors import TesseraError
        from tessera.jose import (
            KeySet,
            SigningKey,
            SymmetricKey,
            peek_unverified_header,
            verify_compact,
        )
        from tessera.verify import Verifier
else:
    from cryptography.hazmat.primitives.asymmetric import ec

    from tessera.errors import TesseraError
    from tessera.jose import (
        KeySet,
        SigningKey,
        SymmetricKey,
        peek_unverified_header,
        verify_compact,
    )
    from tessera.verify import Verifier

# ------------------------------------------------------------------------------ fixtures
# Fixed keys and a fixed clock, so corpus entries signed in one run still verify in the next.

ISSUER: Final = "https://issuer.fuzz.test"
AUDIENCE: Final = "https://api.fuzz.test"
NOW: Final = 1_750_000_000
SEP: Final = b"\x00"

ES256_KEY: Final = SigningKey(
    ec.derive_private_key(0x5EED_0F_7E55E7A_F022_C0FFEE_1234567890ABCDEF, ec.SECP256R1()),
    "ES256",
    kid="fuzz-es256",
)
HS256_KEY: Final = SymmetricKey(
    bytes(range(7, 7 + 32 * 5, 5)), "HS256", kid="fuzz-hs256"
)  # 32 distinct bytes: long enough and varied enough for the weak-secret policy
ES256_SET: Final = KeySet([ES256_KEY.public])
HS256_SET: Final = KeySet.symmetric_set([HS256_KEY])

VERIFIERS: Final = (
    Verifier(issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256"], keys=ES256_SET),
    Verifier(issuer=ISSUER, audience=AUDIENCE, algorithms=["HS256"], keys=HS256_SET),
)
CACHED_VERIFIERS: Final = (
    Verifier(issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256"], keys=ES256_SET, cache_size=64),
    Verifier(issuer=ISSUER, audience=AUDIENCE, algorithms=["HS256"], keys=HS256_SET, cache_size=64),
)
KEY_SETS: Final = ((ES256_SET, ("ES256",)), (HS256_SET, ("HS256",)))

VALID_CLAIMS: Final[dict[str, Any]] = {
    "iss": ISSUER,
    "sub": "user-1",
    "aud": AUDIENCE,
    "exp": NOW + 3600,
    "nbf": NOW - 10,
    "iat": NOW - 10,
    "jti": "jti-1",
    "client_id": "client-1",
    "scope": "read write",
    "tenant_id": "tenant-1",
}

# Structured-token flag bits (first byte of the input).
SIGN: Final = 0x01  # sign the signing input with the real key (else: part 3 is the signature)
USE_HS256: Final = 0x02  # the HS256 key instead of the ES256 key
TEMPLATE_HEADER: Final = 0x04  # use the key's own valid header; fuzz only payload + signature
MERGE_CLAIMS: Final = 0x08  # payload = valid claims updated with the fuzzed JSON object


class _Counter:
    """Executions so far; printed once at exit, however the process ends."""

    executions = 0
    reported = False

    @classmethod
    def report(cls, *_args: object) -> None:
        if not cls.reported:
            cls.reported = True
            print(f"executions: {cls.executions}", flush=True)


# ------------------------------------------------------------------------------ builders


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _key_header(key: SigningKey | SymmetricKey) -> bytes:
    return _json({"alg": key.alg.name, "kid": key.kid, "typ": "at+jwt"})


def _encode(claims: dict[str, Any], key: SigningKey | SymmetricKey, **header: Any) -> str:
    head = {"alg": key.alg.name, "kid": key.kid, "typ": "at+jwt", **header}
    signing_input = b64u(_json(head)) + "." + b64u(_json(claims))
    return signing_input + "." + b64u(key.sign(signing_input.encode("ascii")))


VALID_ES256_TOKEN: Final = _encode(VALID_CLAIMS, ES256_KEY)


def build_structured_token(data: bytes) -> str:
    """``flags NUL header NUL payload NUL signature`` → a compact JWS (maybe validly signed)."""
    flags = data[0] if data else 0
    parts = data[1:].split(SEP, 2)
    parts += [b""] * (3 - len(parts))
    header, payload, signature = parts
    key = HS256_KEY if flags & USE_HS256 else ES256_KEY
    if flags & TEMPLATE_HEADER:
        header = _key_header(key)
    if flags & MERGE_CLAIMS:
        try:
            extra = json.loads(payload)
            if isinstance(extra, dict):
                payload = _json({**VALID_CLAIMS, **extra})
        except (ValueError, RecursionError):
            pass  # not a JSON object: sign the bytes as they are
    signing_input = b64u(header) + "." + b64u(payload)
    if flags & SIGN:
        signature = key.sign(signing_input.encode("ascii"))
    return signing_input + "." + b64u(signature)


def build_structured_jwks(data: bytes) -> dict[str, Any]:
    """``flags NUL a NUL b NUL c`` → a one-member JWKS whose members are the parts, encoded."""
    flags = data[0] if data else 0
    parts = data[1:].split(SEP, 2)
    parts += [b""] * (3 - len(parts))
    a, b, c = (b64u(p) for p in parts)
    kind = flags & 0x03
    if kind == 0:
        jwk: dict[str, Any] = {"kty": "EC", "crv": "P-256", "x": a, "y": b}
    elif kind == 1:
        jwk = {"kty": "RSA", "n": a, "e": b or "AQAB"}
    elif kind == 2:
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": a}
    else:
        jwk = {"kty": "oct", "k": a}
    if flags & 0x04:
        jwk["alg"] = parts[2].decode("latin-1")
    if flags & 0x08:
        jwk["kid"] = c
    if flags & 0x10:
        jwk["use"] = "enc"
    if flags & 0x20:
        jwk["key_ops"] = ["verify"]
    return {"keys": [jwk]}


# ------------------------------------------------------------------------------- targets


def _check_token(token: Any) -> None:
    for verifier, cached in zip(VERIFIERS, CACHED_VERIFIERS, strict=True):
        try:
            claims = verifier.verify(token, now=NOW)
        except TesseraError:
            claims = None
        if claims is not None:
            if claims.issuer != ISSUER or AUDIENCE not in claims.audience:
                raise AssertionError("verified claims break the issuer/audience pin")
            if not claims.expires_at > NOW - verifier.policy.leeway:
                raise AssertionError("an expired token verified")
            _ = (claims.scope, claims.subject, claims.not_before, claims.issued_at, repr(claims))
        for _ in range(2):  # the second call is a cache hit when the first one verified
            try:
                hit = cached.verify(token, now=NOW)
            except TesseraError:
                hit = None
            if (hit is None) != (claims is None) or (hit is not None and dict(hit) != dict(claims)):  # type: ignore[arg-type]
                raise AssertionError("cached and uncached verification disagree")

    try:
        peeked: dict[str, Any] | None = peek_unverified_header(token)
    except TesseraError:
        peeked = None
    for key_set, algorithms in KEY_SETS:
        try:
            header, _payload, _key = verify_compact(token, key_set, algorithms=algorithms)
        except TesseraError:
            continue
        if dict(header) != peeked:
            raise AssertionError("verify_compact and peek_unverified_header disagree")


def _check_jwks(document: Any) -> None:
    for strict in (False, True):
        for algorithms in (None, ("ES256",)):
            try:
                key_set = KeySet.from_jwks(document, algorithms=algorithms, strict=strict)
            except TesseraError:
                continue
            if not len(key_set):
                continue
            # What a set exports it must import again, strictly, to the same kids.
            again = KeySet.from_jwks(key_set.to_jwks(), strict=True)
            if again.kids != key_set.kids:
                raise AssertionError("JWKS round trip changed the kids")
            if key_set.kids == ES256_SET.kids:
                with contextlib.suppress(TesseraError):
                    Verifier(
                        issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256"], keys=key_set
                    ).verify(VALID_ES256_TOKEN, now=NOW)


def TestOneInput(data: bytes) -> None:
    """One fuzz input through every target. Non-Tessera exceptions propagate (= a crash)."""
    _Counter.executions += 1
    try:
        _check_token(data.decode("latin-1"))
        _check_token(build_structured_token(data))
        _check_jwks(data)
        _check_jwks(build_structured_jwks(data))
    except BaseException:
        _Counter.report()  # atheris leaves with _exit() after a crash
        raise


# --------------------------------------------------------------------------------- seeds


def structured_token_seeds() -> list[bytes]:
    """``flags NUL header NUL payload NUL signature`` inputs; the SIGN ones verify."""
    seeds = []
    for flags in (
        SIGN | TEMPLATE_HEADER,
        SIGN | TEMPLATE_HEADER | USE_HS256,
        SIGN | TEMPLATE_HEADER | MERGE_CLAIMS,
        SIGN | TEMPLATE_HEADER | MERGE_CLAIMS | USE_HS256,
        SIGN,
        SIGN | USE_HS256,
        0,
    ):
        key = HS256_KEY if flags & USE_HS256 else ES256_KEY
        payload = (
            b'{"scope":"x","extra":[1,{"a":null}]}' if flags & MERGE_CLAIMS else _json(VALID_CLAIMS)
        )
        seeds.append(bytes([flags]) + _key_header(key) + SEP + payload + SEP + b"sig")
    return seeds


def seed_inputs() -> list[bytes]:
    """Valid tokens, valid structured inputs and valid JWKS documents, plus a few near misses."""
    public = ES256_KEY.public.to_jwk()
    x, y = (base64.urlsafe_b64decode(public[m] + "=" * (-len(public[m]) % 4)) for m in "xy")
    return [
        VALID_ES256_TOKEN.encode(),
        _encode(VALID_CLAIMS, HS256_KEY).encode(),
        _encode({**VALID_CLAIMS, "aud": [AUDIENCE, "other"]}, ES256_KEY).encode(),
        _encode({**VALID_CLAIMS, "scp": ["a", "b"], "cnf": {"jkt": "x"}}, ES256_KEY).encode(),
        _encode(VALID_CLAIMS, ES256_KEY, crit=["exp"]).encode(),
        VALID_ES256_TOKEN.encode() + b".AAAA.AAAA",  # five segments: a JWE shape
        b"eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.",  # alg none, empty signature
        *structured_token_seeds(),
        _json(ES256_SET.to_jwks()),
        _json({"keys": [public, {"kty": "EC", "use": "enc"}]}),
        bytes([0x00]) + x + SEP + y + SEP + b"fuzz-es256",  # structured JWK: the real EC point
        bytes([0x0C]) + x + SEP + y + SEP + b"ES256",
    ]


def ensure_seeds(corpus: Path) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    if any(corpus.iterdir()):
        return
    for index, seed in enumerate(seed_inputs()):
        (corpus / f"seed-{index:02d}").write_bytes(seed)


# libFuzzer dictionary: JOSE names and JSON edge values, spliced in by the mutator.
DICTIONARY: Final = (
    *(f'"{name}"' for name in (*VALID_CLAIMS, "alg", "kid", "typ", "crit", "b64", "zip")),
    *('"jku"', '"jwk"', '"x5c"', '"x5u"', '"scp"', '"cnf"', '"keys"', '"kty"', '"crv"'),
    *('"ES256"', '"HS256"', '"none"', '"at+jwt"', '"application/at+jwt"', '"EC"', '"RSA"'),
    *('"OKP"', '"oct"', '"P-256"', '"Ed25519"', '"use"', '"sig"', '"key_ops"', '"verify"'),
    *("null", "true", "false", "NaN", "Infinity", "-0", "1e400", "1.5", "253402300799"),
    *('"\\ud800"', '"\\u0000"', "[", "]", "{", "}", ":", ",", ".", "=", "eyJ"),
    *(f'"{value}"' for value in (ISSUER, AUDIENCE, ES256_KEY.kid, HS256_KEY.kid)),
)


def _dictionary_arg() -> str:
    path = Path(tempfile.gettempdir()) / "tessera-fuzz.dict"
    lines = [f"kw{i}={json.dumps(entry)}" for i, entry in enumerate(DICTIONARY)]
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return f"-dict={path}"


def main() -> None:
    if atheris is None:
        sys.exit("atheris is not installed: pip install atheris (see fuzz/README.md)")
    # Directories are corpora (seeded when empty); files are inputs to re-run (a crash).
    corpora = [Path(a) for a in sys.argv[1:] if not a.startswith("-")]
    for corpus in corpora:
        if not corpus.is_file():
            ensure_seeds(corpus)
    argv = list(sys.argv)
    if not any(a.startswith("-dict=") for a in argv):
        argv.append(_dictionary_arg())
    atheris.Setup(argv, TestOneInput)
    # libFuzzer ends the process with C exit(), which skips Python's atexit; so the count is
    # printed from libc's atexit list. Registered only here, where Python never finalizes
    # first (a ctypes callback run after finalization would crash the interpreter).
    report = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(_Counter.report)
    ctypes.CDLL(None).__cxa_atexit(report, None, None)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
