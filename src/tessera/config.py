"""Settings: ``TESSERA_*`` environment over an optional TOML file; validated once at start.

Every option sits beside its default and its allowed range. A value outside its range is
refused at start-up with a message naming the rule (DESIGN.md "Defaults"). One frozen
:class:`Settings` object is built at the edge (CLI, app factory) and passed down.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tessera.errors import ConfigurationError
from tessera.hosts import is_loopback_host

__all__ = ["Settings", "is_loopback_host", "load_from_sources", "load_settings"]


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TESSERA_", frozen=True, extra="forbid")

    # Where the embedded default keeps its SQLite file, KEK and pepper.
    home: Path = Path(".tessera")
    # None → SQLite at {home}/tessera.db. PostgreSQL: postgresql+asyncpg://user@host/db
    database_url: str | None = None
    # Issuer per tenant is {public_url}/t/{tenant}; https unless the host is loopback.
    public_url: str = "http://127.0.0.1:8800"
    host: str = "127.0.0.1"
    port: int = Field(8800, ge=1, le=65535)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Key-encryption key (base64url, 32 bytes); None → {home}/kek (created 0600).
    kek: str | None = Field(default=None, repr=False)
    # Pepper for client-secret hashes; None → {home}/pepper (created 0600).
    pepper: str | None = Field(default=None, repr=False)

    access_token_ttl_m2m: int = Field(300, ge=60, le=900)  # DESIGN: 5 min, 1–15 min
    access_token_ttl_user: int = Field(600, ge=60, le=900)  # DESIGN: 10 min, 1–15 min
    clock_skew: int = Field(30, ge=0, le=120)  # DESIGN: 30 s, 0–120 s
    signing_alg: Literal["ES256", "ES384", "EdDSA", "Ed25519", "PS256", "RS256"] = "ES256"
    key_rotation_days: float = Field(30, gt=0, lt=90)  # DESIGN: 30 days, < 90 days
    jwks_max_age: int = Field(300, ge=0, le=86400)
    # How long before it signs a new key is published; ≥ jwks_max_age + clock_skew.
    key_publish_lead: int = Field(3600, ge=0)
    key_refresh_interval: float = Field(30, gt=0, le=300)
    # How long a process may serve a client record from memory (disable, rotate-secret
    # take effect everywhere within this bound).
    client_cache_ttl: float = Field(5, ge=0, le=60)
    # Scale-out revocation events: pub/sub + a stream for catch-up. None → in-process.
    redis_url: str | None = Field(default=None, repr=False)
    # How often the server says "still here" on the feed (verifiers fail closed on silence).
    heartbeat_interval: float = Field(5, gt=0, le=60)
    default_tenant: str = "default"

    # --- users, codes, refresh tokens (issue 5) -------------------------------------------
    # DESIGN: refresh tokens rotate on every use; idle 8 h, absolute 30 d.
    refresh_idle_ttl: int = Field(8 * 3600, ge=300, le=30 * 86400)
    refresh_absolute_ttl: int = Field(30 * 86400, ge=3600, le=365 * 86400)
    # A retry of a just-rotated refresh token within this many seconds gets the same
    # successor instead of revoking the family (0 disables; see server/grants/refresh.py).
    refresh_grace_period: float = Field(5, ge=0, le=60)
    # DESIGN: authorization codes are single use, 60 s, at most 10 min.
    code_ttl: int = Field(60, ge=10, le=600)
    id_token_ttl: int = Field(600, ge=60, le=3600)
    # A login at the authorization server (the SSO session cookie).
    session_ttl: int = Field(8 * 3600, ge=300, le=30 * 86400)
    # How long a user has to finish the login and consent pages.
    interaction_ttl: int = Field(900, ge=60, le=3600)
    par_ttl: int = Field(60, ge=10, le=600)  # RFC 9126 §2.2: short-lived
    # Brute force: after `login_backoff_after` failures in `login_window` seconds each
    # further attempt waits twice as long (1 s, 2 s, 4 s … capped at 60 s); at
    # `login_account_lockout` failures (per account) or `login_ip_lockout` (per client IP)
    # the key is locked for `login_lockout_seconds`.
    login_backoff_after: int = Field(3, ge=1, le=100)
    # The same backoff per client address, from a higher count: many people share one (NAT).
    login_ip_backoff_after: int = Field(20, ge=1, le=100_000)
    login_account_lockout: int = Field(10, ge=2, le=1000)
    login_ip_lockout: int = Field(50, ge=2, le=100_000)
    login_window: int = Field(900, ge=60, le=86400)
    login_lockout_seconds: int = Field(900, ge=10, le=86400)
    # argon2id cost (RFC 9106 §4 second recommendation: t=3, 64 MiB, p=4). Hashes made with
    # other parameters are upgraded at the next successful login.
    password_time_cost: int = Field(3, ge=1, le=20)
    password_memory_kib: int = Field(65536, ge=8192, le=4 * 1024 * 1024)
    password_parallelism: int = Field(4, ge=1, le=16)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    workers: int = Field(1, ge=1, le=64)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        url = urlsplit(self.public_url)
        if url.scheme not in ("https", "http") or not url.hostname:
            raise ValueError("public_url must be an absolute http(s) URL")
        if url.scheme != "https" and not is_loopback_host(url.hostname):
            raise ValueError("public_url must be https unless its host is loopback (RFC 8414 §2)")
        if url.query or url.fragment:
            raise ValueError("public_url must not have a query or fragment")
        if self.key_publish_lead < self.jwks_max_age + self.clock_skew + self.key_refresh_interval:
            # Every server process must have published the next key (it sees it within
            # key_refresh_interval) a full JWKS max-age + skew before the key signs.
            raise ValueError(
                "key_publish_lead must be at least jwks_max_age + clock_skew + "
                "key_refresh_interval (the next key is published before it signs)"
            )
        overlap = self.key_publish_lead + 900 + self.clock_skew  # 900: longest token
        if self.key_rotation_days * 86400 <= overlap:
            raise ValueError(
                "key_rotation_days is shorter than one key's overlap "
                "(key_publish_lead + token lifetime + clock_skew)"
            )
        if self.refresh_idle_ttl > self.refresh_absolute_ttl:
            raise ValueError("refresh_idle_ttl must not exceed refresh_absolute_ttl")
        if self.login_backoff_after >= self.login_account_lockout:
            raise ValueError("login_backoff_after must be below login_account_lockout")
        if self.login_ip_backoff_after >= self.login_ip_lockout:
            raise ValueError("login_ip_backoff_after must be below login_ip_lockout")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self

    @property
    def secure_cookies(self) -> bool:
        """``__Host-`` cookies need ``Secure``, which needs https; loopback http is for dev."""
        return urlsplit(self.public_url).scheme == "https"

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/")

    def issuer(self, tenant_id: str) -> str:
        return f"{self.base_url}/t/{tenant_id}"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.home / 'tessera.db').resolve()}"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from explicit overrides, the environment and an optional TOML file.

    Precedence: overrides (CLI flags) > ``TESSERA_*`` environment > TOML file > defaults;
    the merged result is validated once, so the sources may complete each other.
    """
    return load_from_sources(Settings, config_file, overrides)


def load_from_sources(
    settings_cls: type[SettingsT], config_file: Path | None, overrides: dict[str, Any]
) -> SettingsT:
    """``settings_cls`` from overrides > its environment prefix > a TOML file > defaults.

    Shared by the server's and the BFF's settings; errors are one ConfigurationError naming
    the setting and the rule.
    """
    if config_file is not None and not config_file.is_file():
        raise ConfigurationError(f"config file {config_file} does not exist")

    def customise(
        cls: type[BaseSettings],
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG001 - not used by Tessera
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG001 - not used
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        del cls
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    # A subclass only to choose the sources; the result is validated as settings_cls itself.
    sourced_cls = type(
        "_Sourced", (settings_cls,), {"settings_customise_sources": classmethod(customise)}
    )
    try:
        sourced = sourced_cls(**{k: v for k, v in overrides.items() if v is not None})
        return settings_cls.model_validate(sourced.model_dump())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"cannot read config file {config_file}: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        raise ConfigurationError(f"{where}: {first['msg']}") from None
