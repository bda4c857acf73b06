"""Settings: ``TESSERA_*`` environment over an optional TOML file; validated once at start.

Every option sits beside its default and its allowed range. A value outside its range is
refused at start-up with a message naming the rule (DESIGN.md "Defaults"). One frozen
:class:`Settings` object is built at the edge (CLI, app factory) and passed down.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal
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

__all__ = ["Settings", "is_loopback_host", "load_settings"]


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
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self

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
    if config_file is not None and not config_file.is_file():
        raise ConfigurationError(f"config file {config_file} does not exist")

    class _Sourced(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - not used by Tessera
            file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - not used
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if config_file is not None:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
            return tuple(sources)

    try:
        sourced = _Sourced(**{k: v for k, v in overrides.items() if v is not None})
        return Settings.model_validate(sourced.model_dump())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"cannot read config file {config_file}: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        raise ConfigurationError(f"{where}: {first['msg']}") from None
