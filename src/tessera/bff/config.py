"""BFF settings: ``TESSERA_BFF_*`` environment over an optional TOML file; validated once.

The BFF is a confidential client of the authorization server. Every option sits beside its
default; a value outside its range is refused at start-up with a message naming the rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    SettingsConfigDict,
)

from tessera.config import load_from_sources
from tessera.hosts import is_loopback_host

__all__ = ["BffSettings", "load_bff_settings"]


def _https_or_loopback(url: str, what: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{what} must be an absolute http(s) URL")
    if parts.scheme != "https" and not is_loopback_host(parts.hostname):
        raise ValueError(f"{what} must be https unless its host is loopback")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{what} must not carry a query, fragment or userinfo")


class BffSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TESSERA_BFF_", frozen=True, extra="forbid")

    # The authorization server (exact issuer; its metadata must name exactly this).
    issuer: str
    client_id: str
    client_secret: str = Field(repr=False)
    # Where browsers reach the BFF; the redirect URI is {public_url}/bff/callback.
    public_url: str = "http://127.0.0.1:8700"
    host: str = "127.0.0.1"
    port: int = Field(8700, ge=1, le=65535)
    scope: str = "openid"
    # RFC 8707 resource for the access token; None → the client's default audience.
    resource: str | None = None
    # The proxy's allowlist: /api/{name}/… → {base}/… ; nothing else is reachable.
    upstreams: dict[str, str] = Field(default_factory=dict)
    home: Path = Path(".tessera-bff")
    # None → SQLite at {home}/sessions.db; redis://… to share sessions between instances.
    session_store: str | None = Field(default=None, repr=False)
    # AES-256-GCM key for tokens at rest (base64url, 32 bytes); None → {home}/session-key.
    session_key: str | None = Field(default=None, repr=False)
    session_idle_ttl: int = Field(1800, ge=60, le=86400)
    session_absolute_ttl: int = Field(12 * 3600, ge=300, le=30 * 86400)
    login_ttl: int = Field(600, ge=60, le=3600)
    same_site: Literal["lax", "strict"] = "lax"
    # Origins allowed to call the BFF cross-origin with credentials; empty → CORS closed.
    cors_origins: tuple[str, ...] = ()
    # Refresh the access token this long before it expires (one refresh per session at once).
    refresh_ahead: int = Field(60, ge=0, le=600)
    upstream_timeout: float = Field(30, gt=0, le=600)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @model_validator(mode="after")
    def _check(self) -> BffSettings:
        _https_or_loopback(self.issuer, "issuer")
        _https_or_loopback(self.public_url, "public_url")
        if urlsplit(self.public_url).path not in ("", "/"):
            raise ValueError("public_url must be an origin (the BFF owns its whole path space)")
        for name, base in self.upstreams.items():
            if not name.isidentifier():
                raise ValueError("upstream names are identifiers (letters, digits, _)")
            _https_or_loopback(base, f"upstream {name}")
        for origin in self.cors_origins:
            _https_or_loopback(origin, "a CORS origin")
            if origin == self.origin:
                raise ValueError("the BFF's own origin is not a CORS origin")
        if "openid" not in self.scope.split():
            raise ValueError("scope must include openid (the BFF needs the ID token)")
        if self.session_idle_ttl > self.session_absolute_ttl:
            raise ValueError("session_idle_ttl must not exceed session_absolute_ttl")
        return self

    @property
    def origin(self) -> str:
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def redirect_uri(self) -> str:
        return f"{self.origin}/bff/callback"

    @property
    def resolved_session_store(self) -> str:
        return self.session_store or str((self.home / "sessions.db").resolve())


def load_bff_settings(config_file: Path | None = None, **overrides: Any) -> BffSettings:
    """Overrides (CLI flags) > ``TESSERA_BFF_*`` environment > TOML file > defaults."""
    return load_from_sources(BffSettings, config_file, overrides)
