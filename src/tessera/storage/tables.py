"""The SQL schema as SQLAlchemy Core tables; ``migrations/`` creates exactly this.

Times are epoch seconds in ``Double`` (PostgreSQL ``double precision``: sub-millisecond
precision for the next few centuries). Lists and objects are JSON (PostgreSQL ``json``, which
keeps the text as written, so values round-trip exactly). Identifiers are unbounded strings so
that both backends accept the same values.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "authorization_codes",
    "clients",
    "consents",
    "family_tokens",
    "leases",
    "login_sessions",
    "metadata",
    "opaque_tokens",
    "pending_requests",
    "refresh_families",
    "refresh_tokens",
    "revoked_jtis",
    "signing_keys",
    "tenants",
    "users",
]

# Stable constraint names, so later migrations can alter them on both backends.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", sa.String(), primary_key=True),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
)

clients = sa.Table(
    "clients",
    metadata,
    sa.Column(
        "tenant_id",
        sa.String(),
        sa.ForeignKey("tenants.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("client_id", sa.String(), primary_key=True),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("auth_method", sa.String(), nullable=False),
    sa.Column("secret_hash", sa.LargeBinary(), nullable=True),
    sa.Column("grant_types", sa.JSON(), nullable=False),
    sa.Column("scopes", sa.JSON(), nullable=False),
    sa.Column("audiences", sa.JSON(), nullable=False),
    sa.Column("token_format", sa.String(), nullable=False),
    sa.Column("access_token_ttl", sa.Integer(), nullable=True),
    sa.Column("disabled", sa.Boolean(), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=False),
    sa.Column("metadata", sa.JSON(), nullable=False),
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column(
        "tenant_id",
        sa.String(),
        sa.ForeignKey("tenants.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("kid", sa.String(), primary_key=True),
    sa.Column("alg", sa.String(), nullable=False),
    sa.Column("public_jwk", sa.JSON(), nullable=False),
    sa.Column("sealed_private", sa.LargeBinary(), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("activates_at", sa.Double(), nullable=False),
    sa.Column("retires_at", sa.Double(), nullable=True),
    sa.Column("removes_at", sa.Double(), nullable=True),
)

# No foreign keys: a revocation must be recordable for any token we ever issued, and the
# verifier-side catch-up reads this table alone.
revoked_jtis = sa.Table(
    "revoked_jtis",
    metadata,
    sa.Column("tenant_id", sa.String(), primary_key=True),
    sa.Column("jti", sa.String(), primary_key=True),
    sa.Column("expires_at", sa.Double(), nullable=False),
    sa.Column("revoked_at", sa.Double(), nullable=False),
    # revoked_since() filters by tenant, then a time range.
    sa.Index(None, "tenant_id", "revoked_at"),
    sa.Index(None, "expires_at"),
)

opaque_tokens = sa.Table(
    "opaque_tokens",
    metadata,
    sa.Column("token_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("tenant_id", sa.String(), nullable=False),
    sa.Column("client_id", sa.String(), nullable=False),
    sa.Column("subject", sa.String(), nullable=False),
    sa.Column("audience", sa.JSON(), nullable=False),
    sa.Column("scope", sa.String(), nullable=False),
    sa.Column("jti", sa.String(), nullable=False),
    sa.Column("issued_at", sa.Double(), nullable=False),
    sa.Column("expires_at", sa.Double(), nullable=False),
    sa.Index(None, "expires_at"),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(), primary_key=True),
    sa.Column("holder", sa.String(), nullable=False),
    sa.Column("expires_at", sa.Double(), nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column(
        "tenant_id",
        sa.String(),
        sa.ForeignKey("tenants.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("user_id", sa.String(), primary_key=True),
    sa.Column("email", sa.String(), nullable=False),
    sa.Column("password_hash", sa.String(), nullable=False),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("disabled", sa.Boolean(), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=False),
    sa.UniqueConstraint("tenant_id", "email"),
)

# From here on, the only foreign keys are a family owning its rows. Sessions, consents,
# requests, codes and families name their tenant, user and client without one: they are
# dropped by time (the purge_* methods), not by cascade.
login_sessions = sa.Table(
    "login_sessions",
    metadata,
    sa.Column("session_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("session_id", sa.String(), nullable=False),
    sa.Column("tenant_id", sa.String(), nullable=False),
    sa.Column("user_id", sa.String(), nullable=False),
    sa.Column("auth_time", sa.Double(), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("expires_at", sa.Double(), nullable=False),
    sa.Column("ended_at", sa.Double(), nullable=True),
    # Logout finds a session by its public id (the ID token's sid).
    sa.Index(None, "tenant_id", "session_id", unique=True),
    sa.Index(None, "expires_at"),
)

consents = sa.Table(
    "consents",
    metadata,
    sa.Column("tenant_id", sa.String(), primary_key=True),
    sa.Column("user_id", sa.String(), primary_key=True),
    sa.Column("client_id", sa.String(), primary_key=True),
    sa.Column("scopes", sa.JSON(), nullable=False),
    sa.Column("granted_at", sa.Double(), nullable=False),
)

pending_requests = sa.Table(
    "pending_requests",
    metadata,
    sa.Column("request_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("tenant_id", sa.String(), nullable=False),
    sa.Column("client_id", sa.String(), nullable=False),
    sa.Column("kind", sa.String(), nullable=False),
    sa.Column("params", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("expires_at", sa.Double(), nullable=False),
    sa.Column("binding_hash", sa.LargeBinary(32), nullable=True),
    sa.Index(None, "expires_at"),
)

authorization_codes = sa.Table(
    "authorization_codes",
    metadata,
    sa.Column("code_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("tenant_id", sa.String(), nullable=False),
    sa.Column("client_id", sa.String(), nullable=False),
    sa.Column("user_id", sa.String(), nullable=False),
    sa.Column("session_id", sa.String(), nullable=True),
    sa.Column("redirect_uri", sa.String(), nullable=False),
    sa.Column("scope", sa.String(), nullable=False),
    sa.Column("audience", sa.String(), nullable=False),
    sa.Column("code_challenge", sa.String(), nullable=False),
    sa.Column("nonce", sa.String(), nullable=True),
    sa.Column("auth_time", sa.Double(), nullable=False),
    sa.Column("family_id", sa.String(), nullable=False),
    sa.Column("issued_at", sa.Double(), nullable=False),
    sa.Column("expires_at", sa.Double(), nullable=False),
    sa.Column("consumed_at", sa.Double(), nullable=True),
    sa.Column("claims", sa.JSON(), nullable=False),
    sa.Index(None, "expires_at"),
)

refresh_families = sa.Table(
    "refresh_families",
    metadata,
    sa.Column("family_id", sa.String(), primary_key=True),
    sa.Column("tenant_id", sa.String(), nullable=False),
    sa.Column("client_id", sa.String(), nullable=False),
    sa.Column("user_id", sa.String(), nullable=False),
    sa.Column("session_id", sa.String(), nullable=True),
    sa.Column("scope", sa.String(), nullable=False),
    sa.Column("audience", sa.String(), nullable=False),
    sa.Column("auth_time", sa.Double(), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("expires_at", sa.Double(), nullable=False),
    sa.Column("revoked_at", sa.Double(), nullable=True),
    sa.Column("revoked_reason", sa.String(), nullable=True),
    # families_of_session() at logout.
    sa.Index(None, "tenant_id", "session_id"),
    sa.Index(None, "expires_at"),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("token_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column(
        "family_id",
        sa.String(),
        sa.ForeignKey("refresh_families.family_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("tenant_id", sa.String(), nullable=False),
    sa.Column("client_id", sa.String(), nullable=False),
    sa.Column("generation", sa.Integer(), nullable=False),
    sa.Column("scope", sa.String(), nullable=False),
    sa.Column("issued_at", sa.Double(), nullable=False),
    sa.Column("expires_at", sa.Double(), nullable=False),
    sa.Column("rotated_at", sa.Double(), nullable=True),
    sa.Column("successor_hash", sa.LargeBinary(32), nullable=True),
    sa.Index(None, "family_id"),
)

family_tokens = sa.Table(
    "family_tokens",
    metadata,
    sa.Column(
        "family_id",
        sa.String(),
        sa.ForeignKey("refresh_families.family_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("jti", sa.String(), primary_key=True),
    sa.Column("tenant_id", sa.String(), nullable=False),
    sa.Column("expires_at", sa.Double(), nullable=False),
    sa.Index(None, "expires_at"),
)
