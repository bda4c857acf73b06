"""The SQL schema as SQLAlchemy Core tables; ``migrations/`` creates exactly this.

Times are epoch seconds in ``Double`` (PostgreSQL ``double precision``: sub-millisecond
precision for the next few centuries). Lists and objects are JSON (PostgreSQL ``json``, which
keeps the text as written, so values round-trip exactly). Identifiers are unbounded strings so
that both backends accept the same values.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "clients",
    "leases",
    "metadata",
    "opaque_tokens",
    "revoked_jtis",
    "signing_keys",
    "tenants",
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
