"""Initial schema: tenants, clients, signing keys, revocations, opaque tokens, leases.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written out in full rather than imported from ``tables.py``: a migration is history and must
not change when the current schema does. A test compares the result with ``tables.py``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
    )
    op.create_table(
        "clients",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("client_id", sa.String(), nullable=False),
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
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_clients_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "client_id", name="pk_clients"),
    )
    op.create_table(
        "signing_keys",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("kid", sa.String(), nullable=False),
        sa.Column("alg", sa.String(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("sealed_private", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("activates_at", sa.Double(), nullable=False),
        sa.Column("retires_at", sa.Double(), nullable=True),
        sa.Column("removes_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_signing_keys_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "kid", name="pk_signing_keys"),
    )
    op.create_table(
        "revoked_jtis",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("jti", sa.String(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("revoked_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "jti", name="pk_revoked_jtis"),
    )
    op.create_index(
        "ix_revoked_jtis_tenant_id_revoked_at", "revoked_jtis", ["tenant_id", "revoked_at"]
    )
    op.create_index("ix_revoked_jtis_expires_at", "revoked_jtis", ["expires_at"])
    op.create_table(
        "opaque_tokens",
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("client_id", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("jti", sa.String(), nullable=False),
        sa.Column("issued_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_opaque_tokens"),
    )
    op.create_index("ix_opaque_tokens_expires_at", "opaque_tokens", ["expires_at"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_index("ix_opaque_tokens_expires_at", table_name="opaque_tokens")
    op.drop_table("opaque_tokens")
    op.drop_index("ix_revoked_jtis_expires_at", table_name="revoked_jtis")
    op.drop_index("ix_revoked_jtis_tenant_id_revoked_at", table_name="revoked_jtis")
    op.drop_table("revoked_jtis")
    op.drop_table("signing_keys")
    op.drop_table("clients")
    op.drop_table("tenants")
