"""Settings: every range of DESIGN.md "Defaults" refused at start, naming the setting;
TOML < environment < flags."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from tessera.config import Settings, is_loopback_host, load_settings
from tessera.errors import ConfigurationError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No TESSERA_* from the outside world leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("TESSERA_"):
            monkeypatch.delenv(name)


def test_defaults_match_design():
    s = load_settings()
    assert s.access_token_ttl_m2m == 300
    assert s.access_token_ttl_user == 600
    assert s.clock_skew == 30
    assert s.signing_alg == "ES256"
    assert s.key_rotation_days == 30
    assert s.key_publish_lead >= s.jwks_max_age + s.clock_skew + s.key_refresh_interval
    assert s.public_url == "http://127.0.0.1:8800"


# (setting, refused values, accepted boundary values)
RANGES = [
    ("access_token_ttl_m2m", [59, 0, -1, 901, 3600], [60, 900]),  # 1–15 min
    ("access_token_ttl_user", [59, 0, 901, 86400], [60, 900]),  # 1–15 min
    ("clock_skew", [-1, 121, 3600], [0, 120]),  # 0–120 s
    ("key_rotation_days", [90, 90.5, 365, 0, -1], [89.9, 1]),  # < 90 days
    ("jwks_max_age", [-1, 86401], [0]),
    ("key_refresh_interval", [0, -1, 301], [1, 300]),
    ("workers", [0, 65], [1, 64]),
    ("port", [0, 65536], [1, 65535]),
    ("signing_alg", ["HS256", "none", "RS512", "es256"], ["ES256", "EdDSA", "PS256", "RS256"]),
    ("log_level", ["trace"], ["debug"]),
]


@pytest.mark.parametrize(("name", "value"), [(n, v) for n, bad, _ in RANGES for v in bad], ids=str)
def test_out_of_range_refused_naming_the_setting(name, value):
    with pytest.raises(ConfigurationError) as caught:
        load_settings(**{name: value})
    assert name in caught.value.message
    assert caught.value.code == "invalid_configuration"


@pytest.mark.parametrize(
    ("name", "value"), [(n, v) for n, _, good in RANGES for v in good], ids=str
)
def test_boundary_values_accepted(name, value):
    overrides = {name: value}
    if name == "jwks_max_age":
        overrides["key_publish_lead"] = value + 30 + 30  # + clock_skew + key_refresh_interval
    assert getattr(load_settings(**overrides), name) == value


def test_publish_lead_must_cover_the_snapshot_refresh_interval_too():
    """Another server process sees a new key only after key_refresh_interval; until then it
    serves a JWKS without it, so the lead must cover that as well as max-age + skew."""
    with pytest.raises(ConfigurationError) as caught:
        load_settings(
            jwks_max_age=300, clock_skew=30, key_refresh_interval=120, key_publish_lead=330
        )
    assert "key_refresh_interval" in caught.value.message
    load_settings(jwks_max_age=300, clock_skew=30, key_refresh_interval=120, key_publish_lead=450)


@pytest.mark.parametrize(
    ("max_age", "skew", "lead"), [(300, 30, 329), (3600, 0, 3599), (0, 120, 0)]
)
def test_publish_lead_below_max_age_plus_skew_refused(max_age, skew, lead):
    with pytest.raises(ConfigurationError) as caught:
        load_settings(jwks_max_age=max_age, clock_skew=skew, key_publish_lead=lead)
    assert "key_publish_lead" in caught.value.message


def test_publish_lead_equal_to_max_age_plus_skew_plus_refresh_accepted():
    s = load_settings(
        jwks_max_age=300, clock_skew=30, key_refresh_interval=30, key_publish_lead=360
    )
    assert s.key_publish_lead == 360


def test_rotation_period_shorter_than_one_key_overlap_refused():
    """0.01 day = 864 s < lead 3600 + token lifetime 600 + skew 30: no key could ever be
    published in time and outlive its tokens. Refused with the settings, naming the setting,
    not later by whichever command first builds the key manager."""
    with pytest.raises(ConfigurationError) as caught:
        load_settings(key_rotation_days=0.01)
    assert "key_rotation_days" in caught.value.message


def test_unknown_setting_refused_naming_it(tmp_path):
    config = tmp_path / "tessera.toml"
    config.write_text("jwks_maxage = 60\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(config)
    assert "jwks_maxage" in caught.value.message


def test_unreadable_config_file_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("port = [\n")
    with pytest.raises(ConfigurationError, match="cannot read config file"):
        load_settings(bad)


def test_tls_cert_and_key_go_together(tmp_path):
    with pytest.raises(ConfigurationError, match="tls_cert"):
        load_settings(tls_cert=tmp_path / "cert.pem")
    with pytest.raises(ConfigurationError, match="tls_key"):
        load_settings(tls_key=tmp_path / "key.pem")


# --------------------------------------------------------------------- public_url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8800",
        "http://localhost:8800",
        "http://[::1]:8800",
        "http://127.0.0.1",
        "http://127.8.9.10:1234/prefix",
        "https://example.com",
        "https://auth.example.com/base/",
    ],
)
def test_public_url_accepted(url):
    assert load_settings(public_url=url).public_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "http://example.com:8800",
        "http://10.0.0.1:8800",
        "http://0.0.0.0:8800",
        "http://localhost.example.com",
        "http://127.0.0.1.example.com",
        "http://[::2]:8800",
    ],
)
def test_non_https_public_url_refused_unless_loopback(url):
    with pytest.raises(ConfigurationError) as caught:
        load_settings(public_url=url)
    assert "public_url" in caught.value.message
    assert "https" in caught.value.message


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1",
        "127.0.0.1:8800",
        "https://",
        "https://a.example/?x=1",
        "https://a.example/#f",
    ],
)
def test_malformed_public_url_refused(url):
    with pytest.raises(ConfigurationError) as caught:
        load_settings(public_url=url)
    assert "public_url" in caught.value.message


def test_is_loopback_host():
    assert is_loopback_host("localhost")
    assert is_loopback_host("127.0.0.1")
    assert is_loopback_host("::1")
    assert is_loopback_host("[::1]")
    for host in (None, "", "example.com", "10.0.0.1", "localhost.example.com", "::"):
        assert not is_loopback_host(host)


def test_issuer_per_tenant():
    s = load_settings(public_url="https://auth.example.com/")
    assert s.issuer("acme") == "https://auth.example.com/t/acme"


# --------------------------------------------------------------------- precedence


def write_toml(tmp_path, text: str):
    path = tmp_path / "tessera.toml"
    path.write_text(text)
    return path


def test_toml_file_values_used(tmp_path):
    config = write_toml(tmp_path, 'jwks_max_age = 120\npublic_url = "https://a.example"\n')
    s = load_settings(config)
    assert s.jwks_max_age == 120
    assert s.public_url == "https://a.example"


def test_env_overrides_toml(tmp_path, monkeypatch):
    config = write_toml(
        tmp_path, 'jwks_max_age = 120\nclock_skew = 10\npublic_url = "https://a.example"\n'
    )
    monkeypatch.setenv("TESSERA_JWKS_MAX_AGE", "200")
    monkeypatch.setenv("TESSERA_PUBLIC_URL", "https://b.example")
    s = load_settings(config)
    assert s.jwks_max_age == 200
    assert s.public_url == "https://b.example"
    assert s.clock_skew == 10  # not in the environment: the file's value stays


def test_flags_override_env_and_toml(tmp_path, monkeypatch):
    config = write_toml(tmp_path, "jwks_max_age = 120\nport = 9000\n")
    monkeypatch.setenv("TESSERA_JWKS_MAX_AGE", "200")
    monkeypatch.setenv("TESSERA_PORT", "9001")
    s = load_settings(config, jwks_max_age=250, port=9002)
    assert s.jwks_max_age == 250
    assert s.port == 9002


def test_unset_flags_do_not_override(monkeypatch):
    monkeypatch.setenv("TESSERA_PORT", "9001")
    assert load_settings(port=None).port == 9001


def test_env_value_out_of_range_refused_naming_it(monkeypatch):
    monkeypatch.setenv("TESSERA_CLOCK_SKEW", "500")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert "clock_skew" in caught.value.message


def test_env_and_toml_layers_validated_together(tmp_path, monkeypatch):
    """The file raises the publish lead, the environment raises the max-age: together valid.

    Validating the environment layer alone (with the default lead of 3600 s) refuses it.
    """
    config = write_toml(tmp_path, "key_publish_lead = 7200\n")
    monkeypatch.setenv("TESSERA_JWKS_MAX_AGE", "3600")
    s = load_settings(config)
    assert (s.jwks_max_age, s.key_publish_lead) == (3600, 7200)


def test_flag_overrides_an_invalid_env_value(monkeypatch):
    """Flags win over the environment, also over a value the flag is there to correct."""
    monkeypatch.setenv("TESSERA_PUBLIC_URL", "http://auth.example.com")
    s = load_settings(public_url="https://auth.example.com")
    assert s.public_url == "https://auth.example.com"


def test_settings_are_frozen():
    s = load_settings()
    with pytest.raises(ValidationError, match="frozen"):
        s.port = 1  # type: ignore[misc]
    assert isinstance(s, Settings)


def test_secrets_not_in_repr():
    s = load_settings(kek="A" * 43, pepper="pepper-value-123")
    assert "pepper-value-123" not in repr(s)
    assert "A" * 43 not in repr(s)


def test_user_flow_defaults_match_design():
    s = load_settings()
    assert (s.refresh_idle_ttl, s.refresh_absolute_ttl) == (8 * 3600, 30 * 86400)
    assert (s.code_ttl, s.refresh_grace_period, s.access_token_ttl_user) == (60, 5, 600)


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        ({"refresh_idle_ttl": 7200, "refresh_absolute_ttl": 3600}, "refresh_idle_ttl"),
        ({"code_ttl": 601}, "code_ttl"),
        ({"refresh_grace_period": 61}, "refresh_grace_period"),
        ({"login_backoff_after": 10, "login_account_lockout": 10}, "login_backoff_after"),
        ({"login_ip_backoff_after": 50, "login_ip_lockout": 50}, "login_ip_backoff_after"),
        ({"password_memory_kib": 1024}, "password_memory_kib"),
    ],
)
def test_user_flow_settings_out_of_range_are_refused(overrides, rule):
    with pytest.raises(ConfigurationError) as caught:
        load_settings(**overrides)
    assert rule in str(caught.value)
