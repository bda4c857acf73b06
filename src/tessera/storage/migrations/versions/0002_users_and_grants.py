"""Users and grants: users, sessions, consents, pending requests, codes, refresh families.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

A family's refresh tokens and the access tokens issued under it (``family_tokens``) are its
only dependent rows, dropped with it.

Written out in full rather than imported from ``tables.py`` (see 0001).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_users_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", name="pk_users"),
        sa.UniqueConstraint("tenant_id", "email", name="uq_users_tenant_id_email"),
    )
    op.create_table(
        "login_sessions",
        sa.Column("session_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("session_id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("auth_time", sa.Double(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("ended_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("session_hash", name="pk_login_sessions"),
    )
    op.create_index(
        "ix_login_sessions_tenant_id_session_id",
        "login_sessions",
        ["tenant_id", "session_id"],
        unique=True,
    )
    op.create_index("ix_login_sessions_expires_at", "login_sessions", ["expires_at"])
    op.create_table(
        "consents",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("client_id", sa.String(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("granted_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", "client_id", name="pk_consents"),
    )
    op.create_table(
        "pending_requests",
        sa.Column("request_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("client_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("binding_hash", sa.LargeBinary(32), nullable=True),
        sa.PrimaryKeyConstraint("request_hash", name="pk_pending_requests"),
    )
    op.create_index("ix_pending_requests_expires_at", "pending_requests", ["expires_at"])
    op.create_table(
        "authorization_codes",
        sa.Column("code_hash", sa.LargeBinary(32), nullable=False),
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
        sa.PrimaryKeyConstraint("code_hash", name="pk_authorization_codes"),
    )
    op.create_index("ix_authorization_codes_expires_at", "authorization_codes", ["expires_at"])
    op.create_table(
        "refresh_families",
        sa.Column("family_id", sa.String(), nullable=False),
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
        sa.PrimaryKeyConstraint("family_id", name="pk_refresh_families"),
    )
    op.create_index(
        "ix_refresh_families_tenant_id_session_id",
        "refresh_families",
        ["tenant_id", "session_id"],
    )
    op.create_index("ix_refresh_families_expires_at", "refresh_families", ["expires_at"])
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("family_id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("client_id", sa.String(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("issued_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("rotated_at", sa.Double(), nullable=True),
        sa.Column("successor_hash", sa.LargeBinary(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["refresh_families.family_id"],
            name="fk_refresh_tokens_family_id_refresh_families",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name="pk_refresh_tokens"),
    )
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])
    op.create_table(
        "family_tokens",
        sa.Column("family_id", sa.String(), nullable=False),
        sa.Column("jti", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["refresh_families.family_id"],
            name="fk_family_tokens_family_id_refresh_families",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("family_id", "jti", name="pk_family_tokens"),
    )
    op.create_index("ix_family_tokens_expires_at", "family_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_family_tokens_expires_at", table_name="family_tokens")
    op.drop_table("family_tokens")
    op.drop_index("ix_refresh_tokens_family_id", table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index("ix_refresh_families_expires_at", table_name="refresh_families")
    op.drop_index("ix_refresh_families_tenant_id_session_id", table_name="refresh_families")
    op.drop_table("refresh_families")
    op.drop_index("ix_authorization_codes_expires_at", table_name="authorization_codes")
    op.drop_table("authorization_codes")
    op.drop_index("ix_pending_requests_expires_at", table_name="pending_requests")
    op.drop_table("pending_requests")
    op.drop_table("consents")
    op.drop_index("ix_login_sessions_expires_at", table_name="login_sessions")
    op.drop_index("ix_login_sessions_tenant_id_session_id", table_name="login_sessions")
    op.drop_table("login_sessions")
    op.drop_table("users")
