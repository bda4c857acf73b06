"""Private keys at rest: AES-256-GCM bound to tenant and kid; the 0600 secret files."""

from __future__ import annotations

import json
import os
import secrets
import stat

import pytest

from tessera.errors import ConfigurationError, InvalidKey
from tessera.jose.b64 import b64url_encode
from tessera.jose.jwk import SigningKey
from tessera.keys.sealing import KeyEncryptionKey, load_or_create_secret_file
from tessera.secret import Secret


def new_kek() -> KeyEncryptionKey:
    return KeyEncryptionKey(Secret(secrets.token_bytes(32)))


@pytest.fixture
def kek() -> KeyEncryptionKey:
    return new_kek()


@pytest.fixture
def private_jwk() -> bytes:
    return json.dumps(SigningKey.generate("ES256").export_private_jwk()).encode()


def test_round_trip(kek, private_jwk):
    sealed = kek.seal(private_jwk, tenant_id="acme", kid="k1")
    assert kek.open(sealed, tenant_id="acme", kid="k1") == private_jwk


def test_sealed_blob_hides_the_key(kek, private_jwk):
    d = json.loads(private_jwk)["d"]
    sealed = kek.seal(private_jwk, tenant_id="acme", kid="k1")
    assert d.encode() not in sealed
    assert private_jwk not in sealed


def test_each_seal_uses_a_fresh_nonce(kek, private_jwk):
    one = kek.seal(private_jwk, tenant_id="acme", kid="k1")
    two = kek.seal(private_jwk, tenant_id="acme", kid="k1")
    assert one[:12] != two[:12]
    assert one != two


@pytest.mark.parametrize(
    ("tenant_id", "kid"),
    [("other", "k1"), ("acme", "k2"), ("acme\x00k1", ""), ("", "acme\x00k1"), ("ACME", "k1")],
)
def test_opening_under_another_tenant_or_kid_fails(kek, private_jwk, tenant_id, kid):
    sealed = kek.seal(private_jwk, tenant_id="acme", kid="k1")
    with pytest.raises(InvalidKey):
        kek.open(sealed, tenant_id=tenant_id, kid=kid)


def test_opening_with_another_kek_fails(kek, private_jwk):
    sealed = kek.seal(private_jwk, tenant_id="acme", kid="k1")
    with pytest.raises(InvalidKey):
        new_kek().open(sealed, tenant_id="acme", kid="k1")


def test_every_tampered_byte_is_detected(kek, private_jwk):
    sealed = kek.seal(private_jwk, tenant_id="acme", kid="k1")
    for i in range(len(sealed)):
        tampered = bytearray(sealed)
        tampered[i] ^= 0x01
        with pytest.raises(InvalidKey):
            kek.open(bytes(tampered), tenant_id="acme", kid="k1")


@pytest.mark.parametrize("keep", [0, 5, 12, 27, -1])
def test_truncated_blob_is_invalid_key(kek, private_jwk, keep):
    """A row cut short (bad restore, hostile DBA) is an InvalidKey, not a stray ValueError."""
    sealed = kek.seal(private_jwk, tenant_id="acme", kid="k1")
    with pytest.raises(InvalidKey):
        kek.open(sealed[:keep], tenant_id="acme", kid="k1")


def test_kek_must_be_32_bytes():
    for size in (0, 16, 31, 33, 64):
        with pytest.raises(ConfigurationError, match="32 bytes"):
            KeyEncryptionKey(Secret(b"\x01" * size))
    with pytest.raises(ConfigurationError):
        KeyEncryptionKey(Secret("x" * 32))  # text, not bytes


def test_from_text_round_trip(private_jwk):
    raw = secrets.token_bytes(32)
    one = KeyEncryptionKey.from_text(b64url_encode(raw) + "\n")
    two = KeyEncryptionKey(Secret(raw))
    assert two.open(one.seal(private_jwk, tenant_id="t", kid="k"), tenant_id="t", kid="k")


def test_from_text_refuses_non_base64url():
    """A bad TESSERA_KEK is a configuration error (not a token error such as MalformedToken)."""
    with pytest.raises(ConfigurationError):
        KeyEncryptionKey.from_text("not base64url!!")
    with pytest.raises(ConfigurationError):
        KeyEncryptionKey.from_text(b64url_encode(b"short"))


def test_repr_redacts():
    raw = secrets.token_bytes(32)
    kek = KeyEncryptionKey(Secret(raw))
    for text in (repr(kek), str(kek), f"{kek}"):
        assert "*" in text
        assert b64url_encode(raw) not in text
        assert raw.hex() not in text
        assert repr(raw) not in text


# ------------------------------------------------------------------ secret files


def test_secret_file_created_0600(tmp_path):
    path = tmp_path / "home" / "kek"
    created = load_or_create_secret_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    assert isinstance(created.reveal(), bytes)
    assert len(created.reveal()) == 32
    assert repr(created) == "Secret('**********')"
    again = load_or_create_secret_file(path)
    assert again.equals(created)


def test_secret_file_created_0600_despite_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        path = tmp_path / "kek"
        load_or_create_secret_file(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_secret_file_size(tmp_path):
    secret = load_or_create_secret_file(tmp_path / "pepper", nbytes=48)
    assert len(secret.reveal()) == 48


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o666, 0o610, 0o601])
def test_secret_file_readable_by_others_refused(tmp_path, mode):
    path = tmp_path / "kek"
    load_or_create_secret_file(path)
    path.chmod(mode)
    with pytest.raises(ConfigurationError, match="chmod 600") as caught:
        load_or_create_secret_file(path)
    assert path.read_text().strip() not in caught.value.message


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_secret_file_private_modes_accepted(tmp_path, mode):
    path = tmp_path / "kek"
    created = load_or_create_secret_file(path)
    path.chmod(mode)
    assert load_or_create_secret_file(path).equals(created)


def test_existing_secret_file_is_read_not_replaced(tmp_path):
    raw = secrets.token_bytes(32)
    path = tmp_path / "kek"
    path.write_text(b64url_encode(raw) + "\n")
    path.chmod(0o600)
    assert load_or_create_secret_file(path).equals(raw)


def test_secret_file_that_is_not_base64url_is_a_configuration_error(tmp_path):
    path = tmp_path / "kek"
    path.write_text("not base64url!!\n")
    path.chmod(0o600)
    with pytest.raises(ConfigurationError, match="base64url"):
        load_or_create_secret_file(path)


def test_second_process_reads_the_first_ones_secret(tmp_path):
    """Creation is exclusive: a later call returns the same secret, never a new one."""
    path = tmp_path / "home" / "pepper"
    first = load_or_create_secret_file(path)
    second = load_or_create_secret_file(path)
    assert first.equals(second)
