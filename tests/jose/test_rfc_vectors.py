"""Known-answer vectors copied from the RFC text (SECURITY.md §11).

RFC 7515 Appendix A, RFC 7520 §3–§4, RFC 8037 Appendix A, RFC 7638 §3.1 and RFC 7797 §4.2.
Only the vector values are copied; each block cites the section it comes from. Long values
are split across string literals for line length only: the pieces join to the RFC value
(the RFC's own line breaks are for print and not part of any value).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tessera.errors import (
    ConfigurationError,
    InvalidSignature,
    MalformedToken,
    TesseraError,
    UnsupportedCritical,
)
from tessera.jose import KeySet, SigningKey, SymmetricKey, VerificationKey, thumbprint
from tessera.jose.jws import verify_compact
from tessera.verify import Verifier


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _signing_input(token: str) -> bytes:
    return token.rsplit(".", 1)[0].encode("ascii")


def _signature(token: str) -> bytes:
    return _b64url_decode(token.rsplit(".", 1)[1])


PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi"})


def _public_set(jwk: dict[str, Any], alg: str) -> KeySet:
    public = {name: value for name, value in jwk.items() if name not in PRIVATE_MEMBERS}
    return KeySet.from_jwks({"keys": [public]}, algorithms=[alg], strict=True)


# --------------------------------------------------------------------- RFC 7515 Appendix A

# RFC 7515 A.1.1: the JWS Payload shared by A.1, A.2, A.3 and A.5 (CRLF and a space per line).
RFC7515_PAYLOAD = b'{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}'
RFC7515_PAYLOAD_B64 = (
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
)

# RFC 7515 A.1.1: the HMAC key, and the JWS whose header is '{"typ":"JWT",\r\n "alg":"HS256"}'.
RFC7515_A1_JWK = {
    "kty": "oct",
    "k": "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
}
RFC7515_A1_TOKEN = (
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    "." + RFC7515_PAYLOAD_B64 + "."
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)

# RFC 7515 A.2.1: the RSA key (private members included) and A.2.1's compact JWS.
RFC7515_A2_JWK = {
    "kty": "RSA",
    "n": "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx"
    "HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs"
    "D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH"
    "SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV"
    "MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8"
    "NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
    "e": "AQAB",
    "d": "Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97I"
    "jlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0"
    "BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn"
    "439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYT"
    "CBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLh"
    "BOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ",
    "p": "4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdi"
    "YrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPG"
    "BY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc",
    "q": "uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxa"
    "ewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA"
    "-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc",
    "dp": "BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3Q"
    "CLdhrqE2e9YkxvuxdBfpT_PI7Yz-FOKnu1R6HsJeDCjn12Sk3vmAktV2zb"
    "34MCdy7cpdTh_YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0",
    "dq": "h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa"
    "7I9xXDoRwbKgB719rrmI2oKr6N3Do9U0ajaHF-NKJnwgjMd2w9cjz3_-ky"
    "NlxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU",
    "qi": "IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2o"
    "y26F0EmpScGLq2MowX7fhd_QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLU"
    "W0ITrJReOgo1cq9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U",
}
RFC7515_A2_TOKEN = (
    "eyJhbGciOiJSUzI1NiJ9"
    "." + RFC7515_PAYLOAD_B64 + "."
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7"
    "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4"
    "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K"
    "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv"
    "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB"
    "p0igcN_IoypGlUPQGe77Rw"
)

# RFC 7515 A.3.1: the P-256 key and A.3.1's compact JWS.
RFC7515_A3_JWK = {
    "kty": "EC",
    "crv": "P-256",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI",
}
RFC7515_A3_TOKEN = (
    "eyJhbGciOiJFUzI1NiJ9"
    "." + RFC7515_PAYLOAD_B64 + "."
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSA"
    "pmWQxfKTUJqPP3-Kg6NU1Q"
)

# RFC 7515 A.4.1: the P-521 key, the payload "Payload", and A.4.1's compact JWS.
RFC7515_A4_JWK = {
    "kty": "EC",
    "crv": "P-521",
    "x": "AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk",
    "y": "ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2",
    "d": "AY5pb7A0UFiB3RELSD64fTLOSV_jazdF7fLYyuTw8lOfRhWg6Y6rUrPAxerEzgdRhajnu0ferB0d53vM9mE15j2C",
}
RFC7515_A4_PAYLOAD = b"Payload"
RFC7515_A4_TOKEN = (
    "eyJhbGciOiJFUzUxMiJ9"
    ".UGF5bG9hZA."
    "AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZq"
    "wqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8Kp"
    "EHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn"
)

# RFC 7515 A.5: the Unsecured JWS ({"alg":"none"}, empty signature).
RFC7515_A5_TOKEN = "eyJhbGciOiJub25lIn0." + RFC7515_PAYLOAD_B64 + "."

FORGED_PAYLOAD = b'{"iss":"eve",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}'


def _rfc7515_a1_key() -> SymmetricKey:
    # The RFC JWK carries no "alg"; Tessera pins one algorithm per key, so it is stated here.
    return SymmetricKey.from_jwk({**RFC7515_A1_JWK, "alg": "HS256"})


def test_rfc7515_a1_hs256_verifies_over_the_literal_header_bytes():
    key = _rfc7515_a1_key()
    header, payload, used = verify_compact(
        RFC7515_A1_TOKEN, KeySet.symmetric_set([key]), algorithms=["HS256"], typ=None
    )
    assert payload == RFC7515_PAYLOAD
    assert header == {"typ": "JWT", "alg": "HS256"}
    assert used is key
    # The header JSON has CRLF and a space: the MAC covers those bytes, not a re-serialization.
    assert _b64url_decode(RFC7515_A1_TOKEN.split(".")[0]) == b'{"typ":"JWT",\r\n "alg":"HS256"}'


def test_rfc7515_a1_hs256_signing_reproduces_the_rfc_mac():
    key = _rfc7515_a1_key()
    assert key.sign(_signing_input(RFC7515_A1_TOKEN)) == _signature(RFC7515_A1_TOKEN)


def test_rfc7515_a2_rs256_verifies():
    header, payload, _ = verify_compact(
        RFC7515_A2_TOKEN, _public_set(RFC7515_A2_JWK, "RS256"), algorithms=["RS256"], typ=None
    )
    assert header == {"alg": "RS256"}
    assert payload == RFC7515_PAYLOAD


def test_rfc7515_a2_rs256_signing_reproduces_the_rfc_signature():
    key = SigningKey.from_jwk(RFC7515_A2_JWK, algorithms=["RS256"])
    assert key.sign(_signing_input(RFC7515_A2_TOKEN)) == _signature(RFC7515_A2_TOKEN)


def test_rfc7515_a3_es256_verifies():
    header, payload, _ = verify_compact(
        RFC7515_A3_TOKEN, _public_set(RFC7515_A3_JWK, "ES256"), algorithms=["ES256"], typ=None
    )
    assert header == {"alg": "ES256"}
    assert payload == RFC7515_PAYLOAD


def test_rfc7515_a3_es256_private_key_signs_what_the_public_key_verifies():
    # ECDSA is randomized: the RFC signature cannot be reproduced, only a fresh one checked.
    key = SigningKey.from_jwk(RFC7515_A3_JWK, algorithms=["ES256"])
    data = _signing_input(RFC7515_A3_TOKEN)
    signature = key.sign(data)
    assert len(signature) == 64
    _public_set(RFC7515_A3_JWK, "ES256").resolve(None, "ES256").verify(data, signature)


def test_rfc7515_a4_es512_verifies():
    header, payload, _ = verify_compact(
        RFC7515_A4_TOKEN, _public_set(RFC7515_A4_JWK, "ES512"), algorithms=["ES512"], typ=None
    )
    assert header == {"alg": "ES512"}
    assert payload == RFC7515_A4_PAYLOAD
    assert len(_signature(RFC7515_A4_TOKEN)) == 132  # RFC 7518 §3.4: 2 × 66 octets for P-521


@pytest.mark.parametrize(
    ("token", "jwk", "alg"),
    [
        (RFC7515_A2_TOKEN, RFC7515_A2_JWK, "RS256"),
        (RFC7515_A3_TOKEN, RFC7515_A3_JWK, "ES256"),
        (RFC7515_A4_TOKEN, RFC7515_A4_JWK, "ES512"),
    ],
    ids=["A.2", "A.3", "A.4"],
)
def test_rfc7515_vectors_fail_once_the_payload_changes(token, jwk, alg):
    header_b64, _, signature_b64 = token.split(".")
    forged = f"{header_b64}.{_b64url(FORGED_PAYLOAD)}.{signature_b64}"
    with pytest.raises(InvalidSignature):
        verify_compact(forged, _public_set(jwk, alg), algorithms=[alg], typ=None)


def test_rfc7515_a1_fails_once_the_payload_changes():
    header_b64, _, signature_b64 = RFC7515_A1_TOKEN.split(".")
    forged = f"{header_b64}.{_b64url(FORGED_PAYLOAD)}.{signature_b64}"
    keys = KeySet.symmetric_set([_rfc7515_a1_key()])
    with pytest.raises(InvalidSignature):
        verify_compact(forged, keys, algorithms=["HS256"], typ=None)


@pytest.mark.parametrize("algorithms", [["RS256"], ["none"]], ids=["pinned-RS256", "misconfigured"])
def test_rfc7515_a5_unsecured_jws_is_refused_by_verify_compact(algorithms):
    with pytest.raises(TesseraError):
        verify_compact(
            RFC7515_A5_TOKEN,
            _public_set(RFC7515_A2_JWK, "RS256"),
            algorithms=algorithms,
            typ=None,
        )


def test_rfc7515_a5_unsecured_jws_is_refused_by_the_verifier():
    verifier = Verifier(
        issuer="joe",
        audience="https://example.com",
        algorithms=["RS256"],
        keys=_public_set(RFC7515_A2_JWK, "RS256"),
        typ=None,
    )
    with pytest.raises(TesseraError):
        verifier.verify(RFC7515_A5_TOKEN, now=1300819300)


def test_rfc7515_a5_none_cannot_even_be_configured():
    with pytest.raises(ConfigurationError):
        Verifier(
            issuer="joe",
            audience="https://example.com",
            algorithms=["none"],
            keys=_public_set(RFC7515_A2_JWK, "RS256"),
            typ=None,
        )


# ---------------------------------------------------------------------- RFC 7520 §3 and §4

# RFC 7520 §4 (Figure 7): the payload of every §4 example, with U+2019 in "It’s" and "there’s".
RFC7520_PAYLOAD = (
    "It\u2019s a dangerous business, Frodo, going out your door. You step onto the road, "
    "and if you don't keep your feet, there\u2019s no knowing where you might be swept off to."
).encode()
RFC7520_PAYLOAD_B64 = (
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250"
    "byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hl"
    "cmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4"
)

# RFC 7520 §3.2: the P-521 private key (§3.1 is its public half).
RFC7520_EC_JWK = {
    "kty": "EC",
    "kid": "bilbo.baggins@hobbiton.example",
    "use": "sig",
    "crv": "P-521",
    "x": "AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9A5RkTKqjqvjyekWF-7ytDyRXYgCF5cj0Kt",
    "y": "AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVySsUdaQkAgDPrwQrJmbnX9cwlGfP-HqHZR1",
    "d": "AAhRON2r9cqXX1hg-RoI6R1tX5p2rUAYdmpHZoC1XNM56KtscrX6zbKipQrCW9CGZH3T4ubpnoTKLDYJ_fF3_rJt",
}

# RFC 7520 §3.4: the RSA private key (§3.3 is its public half: kty, kid, use, n, e).
RFC7520_RSA_JWK = {
    "kty": "RSA",
    "kid": "bilbo.baggins@hobbiton.example",
    "use": "sig",
    "n": "n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT-O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQHz_"
    "AJmSCpMaJMRBSFKrKb2wqVwGU_NsYOYL-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-oBHqFEHYpP"
    "e7Tpe-OfVfHd1E6cS6M1FZcD1NNLYD5lFHpPI9bTwJlsde3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3-tVTU4fg"
    "_3L_vniUFAKwuCLqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__kRhuaxwUkRz5iaiQkqgc5gHdrNP5zw",
    "e": "AQAB",
    "d": "bWUC9B-EFRIo8kpGfh0ZuyGPvMNKvYWNtB_ikiH9k20eT-O1q_I78eiZkpXxXQ0UTEs2LsNRS-8uJbvQ-A1irkwM"
    "SMkK1J3XTGgdrhCku9gRldY7sNA_AKZGh-Q661_42rINLRCe8W-nZ34ui_qOfkLnK9QWDDqpaIsA-bMwWWSDFu2M"
    "UBYwkHTMEzLYGqOe04noqeq1hExBTHBOBdkMXiuFhUq1BU6l-DqEiWxqg82sXt2h-LMnT3046AOYJoRioz75tSUQ"
    "fGCshWTBnP5uDjd18kKhyv07lhfSJdrPdM5Plyl21hsFf4L_mHCuoFau7gdsPfHPxxjVOcOpBrQzwQ",
    "p": "3Slxg_DwTXJcb6095RoXygQCAZ5RnAvZlno1yhHtnUex_fp7AZ_9nRaO7HX_-SFfGQeutao2TDjDAWU4Vupk8rw9"
    "JR0AzZ0N2fvuIAmr_WCsmGpeNqQnev1T7IyEsnh8UMt-n5CafhkikzhEsrmndH6LxOrvRJlsPp6Zv8bUq0k",
    "q": "uKE2dh-cTf6ERF4k4e_jy78GfPYUIaUyoSSJuBzp3Cubk3OCqs6grT8bR_cu0Dm1MZwWmtdqDyI95HrUeq3MP15v"
    "MMON8lHTeZu2lmKvwqW7anV5UzhM1iZ7z4yMkuUwFWoBvyY898EXvRD-hdqRxHlSqAZ192zB3pVFJ0s7pFc",
    "dp": "B8PVvXkvJrj2L-GYQ7v3y9r6Kw5g9SahXBwsWUzp19TVlgI-YV85q1NIb1rxQtD-IsXXR3-TanevuRPRt5OBOdiM"
    "GQp8pbt26gljYfKU_E9xn-RULHz0-ed9E9gXLKD4VGngpz-PfQ_q29pk5xWHoJp009Qf1HvChixRX59ehik",
    "dq": "CLDmDGduhylc9o7r84rEUVn7pzQ6PF83Y-iBZx5NT-TpnOZKF1pErAMVeKzFEl41DlHHqqBLSM0W1sOFbwTxYWZD"
    "m6sI6og5iTbwQGIC3gnJKbi_7k_vJgGHwHxgPaX2PnvP-zyEkDERuf-ry4c_Z11Cq9AqC2yeL6kdKT1cYF8",
    "qi": "3PiqvXQN0zwMeE-sBvZgi289XP9XCQF3VWqPzMKnIgQp7_Tugo6-NZBKCQsMf3HaEGBjTVJs_jcK8-TRXvaKe-7Z"
    "MaQj8VfBdYkssbu0NKDDhjJ-GtiseaDVWt7dcH0cfwxgFUHpQh7FoCrjFJ6h6ZEpMF6xmujs4qMpPz8aaI4",
}

# RFC 7520 §3.5: the MAC key.
RFC7520_HMAC_JWK = {
    "kty": "oct",
    "kid": "018c0ae5-4d9b-471b-bfd6-eef314bc7037",
    "use": "sig",
    "alg": "HS256",
    "k": "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg",
}

# RFC 7520 §4.1.3 (Figure 13): RSASSA-PKCS1-v1_5, RS256.
RFC7520_RS256_TOKEN = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9"
    "." + RFC7520_PAYLOAD_B64 + "."
    "MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmKZopdHM1O2U4mwzJdQx996ivp83xugl"
    "II7PNDi84wnB-BDkoBwA78185hX-Es4JIwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x"
    "8wW1Kt9eRo4QPocSadnHXFxnt8Is9UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluPxUAhb6L2aXic1U12podGU0KLUQSE"
    "_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_fcIe8u9ipH84ogoree7vjbU5y18kDquDg"
)

# RFC 7520 §4.2.3 (Figure 20): RSASSA-PSS, PS384.
RFC7520_PS384_TOKEN = (
    "eyJhbGciOiJQUzM4NCIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9"
    "." + RFC7520_PAYLOAD_B64 + "."
    "cu22eBqkYDKgIlTpzDXGvaFfz6WGoz7fUDcfT0kkOy42miAh2qyBzk1xEsnk2IpN6-tPid6VrklHkqsGqDqHCdP6O8TT"
    "B5dDDItllVo6_1OLPpcbUrhiUSMxbbXUvdvWXzg-UD8biiReQFlfz28zGWVsdiNAUf8ZnyPEgVFn442ZdNqiVJRmBqrY"
    "RXe8P_ijQ7p8Vdz0TTrxUeT3lm8d9shnr2lfJT8ImUjvAA2Xez2Mlp8cBE5awDzT0qI0n6uiP1aCN_2_jLAeQTlqRHtf"
    "a64QQSUmFAAjVKPbByi7xho0uTOcbH510a6GYmJUAfmWjwZ6oD4ifKo8DYM-X72Eaw"
)

# RFC 7520 §4.3.3 (Figure 27): ECDSA, ES512.
RFC7520_ES512_TOKEN = (
    "eyJhbGciOiJFUzUxMiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9"
    "." + RFC7520_PAYLOAD_B64 + "."
    "AE_R_YZCChjn4791jSQCrdPZCNYqHXCTZH0-JZGYNlaAjP2kqaluUIIUnC9qvbu9Plon7KRTzoNEuT4Va2cmL1eJAQy3"
    "mtPBu_u_sDDyYjnAMDxXPn7XrT0lw-kvAD890jl8e2puQens_IEKBpHABlsbEPX6sFY8OcGDqoRuBomu9xQ2"
)

# RFC 7520 §4.4.3 (Figure 34): HMAC-SHA2, HS256.
RFC7520_HS256_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9"
    "." + RFC7520_PAYLOAD_B64 + "."
    "s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0"
)


def test_rfc7520_payload_text_is_the_encoded_payload():
    assert _b64url_decode(RFC7520_PAYLOAD_B64) == RFC7520_PAYLOAD
    assert "\u2019" in RFC7520_PAYLOAD.decode()


@pytest.mark.parametrize(
    ("token", "jwk", "alg"),
    [
        (RFC7520_RS256_TOKEN, RFC7520_RSA_JWK, "RS256"),
        (RFC7520_PS384_TOKEN, RFC7520_RSA_JWK, "PS384"),
        (RFC7520_ES512_TOKEN, RFC7520_EC_JWK, "ES512"),
    ],
    ids=["4.1-RS256", "4.2-PS384", "4.3-ES512"],
)
def test_rfc7520_asymmetric_signatures_verify(token, jwk, alg):
    header, payload, used = verify_compact(token, _public_set(jwk, alg), algorithms=[alg], typ=None)
    assert payload == RFC7520_PAYLOAD
    assert header == {"alg": alg, "kid": "bilbo.baggins@hobbiton.example"}
    assert used.kid == "bilbo.baggins@hobbiton.example"


def test_rfc7520_4_4_hs256_verifies():
    key = SymmetricKey.from_jwk(RFC7520_HMAC_JWK)
    header, payload, used = verify_compact(
        RFC7520_HS256_TOKEN, KeySet.symmetric_set([key]), algorithms=["HS256"], typ=None
    )
    assert payload == RFC7520_PAYLOAD
    assert header == {"alg": "HS256", "kid": "018c0ae5-4d9b-471b-bfd6-eef314bc7037"}
    assert used is key


def test_rfc7520_4_1_rs256_signing_reproduces_the_rfc_signature():
    key = SigningKey.from_jwk(RFC7520_RSA_JWK, algorithms=["RS256"])
    assert key.kid == "bilbo.baggins@hobbiton.example"
    assert key.sign(_signing_input(RFC7520_RS256_TOKEN)) == _signature(RFC7520_RS256_TOKEN)


def test_rfc7520_4_4_hs256_signing_reproduces_the_rfc_mac():
    key = SymmetricKey.from_jwk(RFC7520_HMAC_JWK)
    assert key.sign(_signing_input(RFC7520_HS256_TOKEN)) == _signature(RFC7520_HS256_TOKEN)


def test_rfc7520_private_keys_match_their_public_halves():
    # §3.2/§3.4 private members must agree with the §3.1/§3.3 public ones (checked at import).
    ec_public = SigningKey.from_jwk(RFC7520_EC_JWK, algorithms=["ES512"]).public.to_jwk()
    assert (ec_public["x"], ec_public["y"]) == (RFC7520_EC_JWK["x"], RFC7520_EC_JWK["y"])
    rsa_public = SigningKey.from_jwk(RFC7520_RSA_JWK, algorithms=["PS384"]).public.to_jwk()
    assert (rsa_public["n"], rsa_public["e"]) == (RFC7520_RSA_JWK["n"], RFC7520_RSA_JWK["e"])


def test_rfc7520_rsa_key_pinned_to_rs256_refuses_the_ps384_example():
    # One key, one algorithm (RFC 8725 §3.1): the §4.2 token needs the key pinned to PS384.
    with pytest.raises(TesseraError):
        verify_compact(
            RFC7520_PS384_TOKEN,
            _public_set(RFC7520_RSA_JWK, "RS256"),
            algorithms=["RS256", "PS384"],
            typ=None,
        )


# ---------------------------------------------------------------------- RFC 8037 Appendix A

# RFC 8037 A.1 (private key) and A.2 (its public half).
RFC8037_PRIVATE_JWK = {
    "kty": "OKP",
    "crv": "Ed25519",
    "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
}
RFC8037_PUBLIC_JWK = {
    "kty": "OKP",
    "crv": "Ed25519",
    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
}
# RFC 8037 A.3: the RFC 7638 thumbprint of the A.2 key.
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
# RFC 8037 A.4: {"alg":"EdDSA"} over "Example of Ed25519 signing"; A.5 verifies the same JWS.
RFC8037_PAYLOAD = b"Example of Ed25519 signing"
RFC8037_TOKEN = (
    "eyJhbGciOiJFZERTQSJ9"
    ".RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)


def test_rfc8037_a1_a2_private_key_import_yields_the_public_key():
    key = SigningKey.from_jwk(RFC8037_PRIVATE_JWK, algorithms=["EdDSA"])
    public = key.public.to_jwk()
    assert {name: public[name] for name in ("kty", "crv", "x")} == RFC8037_PUBLIC_JWK
    assert "d" not in public
    assert key.alg.name == "EdDSA"


def test_rfc8037_a2_public_key_import():
    key = VerificationKey.from_jwk(RFC8037_PUBLIC_JWK, algorithms=["EdDSA"])
    assert key.alg.name == "EdDSA"
    assert key.to_jwk()["x"] == RFC8037_PUBLIC_JWK["x"]


def test_rfc8037_a3_thumbprint():
    assert thumbprint(RFC8037_PUBLIC_JWK) == RFC8037_THUMBPRINT
    key = VerificationKey.from_jwk(RFC8037_PUBLIC_JWK, algorithms=["EdDSA"])
    assert key.thumbprint() == RFC8037_THUMBPRINT
    # Without a "kid" the key is named by its thumbprint.
    assert key.kid == RFC8037_THUMBPRINT
    signing = SigningKey.from_jwk(RFC8037_PRIVATE_JWK, algorithms=["EdDSA"])
    assert signing.public.thumbprint() == RFC8037_THUMBPRINT


def test_rfc8037_a4_signing_reproduces_the_rfc_signature():
    key = SigningKey.from_jwk(RFC8037_PRIVATE_JWK, algorithms=["EdDSA"])
    assert key.sign(_signing_input(RFC8037_TOKEN)) == _signature(RFC8037_TOKEN)


def test_rfc8037_a5_verifies_with_eddsa():
    keys = KeySet.from_jwks({"keys": [RFC8037_PUBLIC_JWK]}, algorithms=["EdDSA"], strict=True)
    header, payload, _ = verify_compact(RFC8037_TOKEN, keys, algorithms=["EdDSA"], typ=None)
    assert header == {"alg": "EdDSA"}
    assert payload == RFC8037_PAYLOAD


def test_rfc8037_a5_fails_once_the_payload_changes():
    keys = KeySet.from_jwks({"keys": [RFC8037_PUBLIC_JWK]}, algorithms=["EdDSA"], strict=True)
    header_b64, _, signature_b64 = RFC8037_TOKEN.split(".")
    forged = f"{header_b64}.{_b64url(b'Example of Ed25519 signinG')}.{signature_b64}"
    with pytest.raises(InvalidSignature):
        verify_compact(forged, keys, algorithms=["EdDSA"], typ=None)


# ---------------------------------------------------------------------------- RFC 7638 §3.1

# RFC 7638 §3.1: the example RSA key (RFC 7517 A.1) and its SHA-256 thumbprint.
RFC7638_JWK = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_B"
    "JECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2"
    "QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6"
    "WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_rfc7638_3_1_thumbprint():
    assert thumbprint(RFC7638_JWK) == RFC7638_THUMBPRINT
    assert VerificationKey.from_jwk(RFC7638_JWK).thumbprint() == RFC7638_THUMBPRINT


def test_rfc7638_thumbprint_ignores_optional_members_and_their_order():
    reordered = json.loads(json.dumps(dict(reversed(list(RFC7638_JWK.items())))))
    reordered["use"] = "sig"
    assert thumbprint(reordered) == RFC7638_THUMBPRINT


# ---------------------------------------------------------------------------- RFC 7797 §4.2

# RFC 7797 §4.2: header {"alg":"HS256","b64":false,"crit":["b64"]}, payload "$.02", and the
# RFC 7515 A.1 key; the compact form is given with the payload detached.
RFC7797_HEADER_B64 = "eyJhbGciOiJIUzI1NiIsImI2NCI6ZmFsc2UsImNyaXQiOlsiYjY0Il19"
RFC7797_PAYLOAD = b"$.02"
RFC7797_SIGNATURE_B64 = "A5dxf2s96_n5FLueVuW1Z_vh161FwXZC4YLPff6dmDY"
RFC7797_DETACHED_TOKEN = RFC7797_HEADER_B64 + ".." + RFC7797_SIGNATURE_B64


def test_rfc7797_vector_is_a_genuine_mac_over_the_unencoded_payload():
    # Guards the refusal tests below: the RFC MAC is correct, so refusal is about b64/crit.
    assert json.loads(_b64url_decode(RFC7797_HEADER_B64)) == {
        "alg": "HS256",
        "b64": False,
        "crit": ["b64"],
    }
    signing_input = RFC7797_HEADER_B64.encode() + b"." + RFC7797_PAYLOAD
    assert _rfc7515_a1_key().sign(signing_input) == _b64url_decode(RFC7797_SIGNATURE_B64)


def test_rfc7797_4_2_detached_compact_form_is_refused():
    keys = KeySet.symmetric_set([_rfc7515_a1_key()])
    with pytest.raises(TesseraError):
        verify_compact(RFC7797_DETACHED_TOKEN, keys, algorithms=["HS256"], typ=None)


def test_rfc7797_4_2_unencoded_payload_inline_is_refused():
    keys = KeySet.symmetric_set([_rfc7515_a1_key()])
    token = f"{RFC7797_HEADER_B64}.{RFC7797_PAYLOAD.decode()}.{RFC7797_SIGNATURE_B64}"
    with pytest.raises(MalformedToken):
        verify_compact(token, keys, algorithms=["HS256"], typ=None)


def test_rfc7797_4_2_header_is_refused_as_unsupported_critical():
    # The b64:false header over a base64url payload, MACed correctly as an ordinary JWS:
    # only the crit/b64 extension is left to refuse (RFC 7515 §4.1.11).
    key = _rfc7515_a1_key()
    signing_input = f"{RFC7797_HEADER_B64}.{_b64url(RFC7797_PAYLOAD)}"
    token = f"{signing_input}.{_b64url(key.sign(signing_input.encode()))}"
    with pytest.raises(UnsupportedCritical):
        verify_compact(token, KeySet.symmetric_set([key]), algorithms=["HS256"], typ=None)
