"""Tenants, memberships and events; on PostgreSQL also row-level security and the API role.

Revision ID: 0001
Revises:
Create Date: 2026-12-05

The same three tables on both backends. PostgreSQL additionally gets:

- ``ENABLE`` + ``FORCE ROW LEVEL SECURITY`` on ``events`` and ``memberships`` (policy keyed
  on ``tessera.tenant_id``, see :mod:`tessera.authz.rls`);
- the API's LOGIN role: DML grants only, never ownership; then narrowed to what the API
  does (it reads events, reads and deletes memberships);
- a trigger on ``memberships`` that NOTIFYs every change, so every API process drops its
  cached answer within milliseconds instead of waiting for the cache TTL.

SQLite gets the tables only; the API confines each connection with tenant views
(:mod:`tessera.authz.sqlite_scope`), which is weaker (see the README).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from tessera.authz.migration import disable_tenant_rls, enable_tenant_rls, grant_api_role

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

NOTIFY_CHANNEL = "data_api_memberships"

# The payload names the changed membership; '*' (everything) when it would not fit in
# NOTIFY's 8000-byte limit, which would otherwise make the DELETE itself fail.
_NOTIFY_FUNCTION = f"""
CREATE OR REPLACE FUNCTION data_api_membership_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  changed text[] := ARRAY[]::text[];
  payload text;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    PERFORM pg_notify('{NOTIFY_CHANNEL}', '*');
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    changed := changed
      || json_build_object('tenant_id', OLD.tenant_id, 'subject', OLD.subject)::text;
  END IF;
  -- An INSERT matters too: a cached "not a member" must not outlive the new membership.
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    changed := changed
      || json_build_object('tenant_id', NEW.tenant_id, 'subject', NEW.subject)::text;
  END IF;
  FOREACH payload IN ARRAY changed LOOP
    IF length(payload) >= 7900 THEN
      payload := '*';
    END IF;
    PERFORM pg_notify('{NOTIFY_CHANNEL}', payload);
  END LOOP;
  RETURN NULL;
END $$
"""


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "tenants",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
    )
    op.create_table(
        "memberships",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        # Space-separated role names: one representation on both backends.
        sa.Column("roles", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "subject", name="pk_memberships"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_memberships_tenant", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "events",
        # SQLite: INTEGER PRIMARY KEY is the rowid (auto-assigned); PostgreSQL: an identity.
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            *([sa.Identity(always=False)] if postgres else []),
            nullable=False,
        ),
        # No foreign key to tenants: a per-row check would double the bulk-load time of an
        # append-only log whose writer (the generator) only uses tenants it has just created.
        sa.Column("tenant_id", sa.Text(), nullable=False),
        # SQLite: fixed-width 'YYYY-MM-DDTHH:MM:SS.ffffffZ' text, which sorts as time does.
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True).with_variant(sa.Text(), "sqlite"),
            nullable=False,
        ),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("country", sa.Text(), nullable=False),
        sa.Column("user_ref", sa.Text(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    # Keyset pagination and exports walk (tenant, time, id); aggregates by kind use the other.
    op.create_index("ix_events_tenant_time", "events", ["tenant_id", "occurred_at", "id"])
    op.create_index("ix_events_tenant_kind", "events", ["tenant_id", "kind"])
    if not postgres:
        return
    api_role = context.config.attributes["api_role"]
    for table in ("events", "memberships"):
        enable_tenant_rls(op, table)
    grant_api_role(op, api_role, ["events", "memberships"], login=True)
    # Least privilege beyond the helper's DML grant: the API never writes events and never
    # inserts or edits memberships (the generator does, as the owner).
    op.execute(f'REVOKE INSERT, UPDATE, DELETE ON TABLE events FROM "{api_role}"')
    op.execute(f'REVOKE INSERT, UPDATE ON TABLE memberships FROM "{api_role}"')
    op.execute(_NOTIFY_FUNCTION)
    op.execute(
        "CREATE TRIGGER memberships_notify AFTER INSERT OR UPDATE OR DELETE ON memberships "
        "FOR EACH ROW EXECUTE FUNCTION data_api_membership_changed()"
    )
    op.execute(
        "CREATE TRIGGER memberships_notify_truncate AFTER TRUNCATE ON memberships "
        "FOR EACH STATEMENT EXECUTE FUNCTION data_api_membership_changed()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS memberships_notify_truncate ON memberships")
        op.execute("DROP TRIGGER IF EXISTS memberships_notify ON memberships")
        op.execute("DROP FUNCTION IF EXISTS data_api_membership_changed()")
        for table in ("events", "memberships"):
            disable_tenant_rls(op, table)
    op.drop_index("ix_events_tenant_kind", table_name="events")
    op.drop_index("ix_events_tenant_time", table_name="events")
    op.drop_table("events")
    op.drop_table("memberships")
    op.drop_table("tenants")
