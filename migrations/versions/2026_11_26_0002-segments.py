"""Segments: saved definitions, the activity rollup, and the ISO date parser in SQL.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.kit.rls import grant_and_protect, refresh_policy

revision: str = '0002'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The grammar of app/kit/instants.py (ISO_INSTANT), evaluated without any cast that can fail,
# so a malformed string is "not a date" rather than an error. Inlined by the planner.
NUDGE_INSTANT = r"""
CREATE OR REPLACE FUNCTION nudge_instant(value text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN value ~ '^[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?$'
THEN CASE WHEN substr(value, 9, 2)::int <= extract(day from
        make_date(substr(value, 1, 4)::int, substr(value, 6, 2)::int, 1) + interval '1 month - 1 day')
  THEN (
    make_timestamp(
      substr(value, 1, 4)::int, substr(value, 6, 2)::int, substr(value, 9, 2)::int,
      CASE WHEN length(value) > 10 THEN substr(value, 12, 2)::int ELSE 0 END,
      CASE WHEN length(value) > 10 THEN substr(value, 15, 2)::int ELSE 0 END,
      CASE WHEN substr(value, 17, 1) = ':' THEN substr(value, 18, 2)::int ELSE 0 END)
    + coalesce(rpad(substring(value from '\.([0-9]{1,6})'), 6, '0')::int, 0) * interval '1 microsecond'
    - CASE WHEN value ~ '[+-][0-9]{2}:[0-9]{2}$'
        THEN (substr(right(value, 6), 1, 3)::int * 60
              + (substr(right(value, 6), 1, 1) || right(value, 2))::int) * interval '1 minute'
        ELSE interval '0' END
  ) AT TIME ZONE 'UTC'
  END
END
$$
"""


FOUNDATION_TENANT_TABLES = ("users", "devices", "events", "idempotency_keys", "user_erasures")
# The policy 0001 created: settings read once per row.
PER_ROW_VISIBLE = (
    "workspace_id = nullif(current_setting('nudge.workspace_id', true), '')::uuid"
    " OR current_setting('nudge.system', true) = 'on'"
)


def upgrade() -> None:
    op.create_table('segments',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.String(length=2000), nullable=True),
    sa.Column('definition', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_segments_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_segments'))
    )
    op.create_index('ix_segments_workspace_id_name', 'segments', ['workspace_id', 'name'], unique=True)
    op.create_table('user_activity_days',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id', 'user_id'], ['users.workspace_id', 'users.id'], name=op.f('fk_user_activity_days_workspace_id_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_user_activity_days_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'user_id', 'day', name=op.f('pk_user_activity_days'))
    )

    # Days of the events stored so far, in primary-key order (appends, no index seeks); the
    # second index is built afterwards in one pass.
    postgres = op.get_bind().dialect.name == "postgresql"
    day = "(occurred_at AT TIME ZONE 'UTC')::date" if postgres else "date(occurred_at)"
    op.execute(
        "INSERT INTO user_activity_days (workspace_id, user_id, day) "
        f"SELECT DISTINCT workspace_id, user_id, {day} FROM events ORDER BY 1, 2, 3"
    )
    op.create_index('ix_user_activity_days_workspace_id_day_user_id', 'user_activity_days', ['workspace_id', 'day', 'user_id'], unique=False)
    if postgres:
        op.execute(NUDGE_INSTANT)
    for table in ("segments", "user_activity_days"):
        grant_and_protect(table)
    # Segment counts scan every user: read the tenant settings once per statement, not per row.
    for table in FOUNDATION_TENANT_TABLES:
        refresh_policy(table)


def downgrade() -> None:
    for table in FOUNDATION_TENANT_TABLES:
        refresh_policy(table, PER_ROW_VISIBLE)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS nudge_instant(text)")
    op.drop_index('ix_user_activity_days_workspace_id_day_user_id', table_name='user_activity_days')
    op.drop_table('user_activity_days')
    op.drop_index('ix_segments_workspace_id_name', table_name='segments')
    op.drop_table('segments')
