"""Journeys: journeys, their versions, per-user states and the step journal.

Revision ID: 0009
Revises: 0006
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.kit.rls import grant_and_protect

revision: str = '0009'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
ACTIVE = sa.text("status = 'active'")


def upgrade() -> None:
    op.create_table('journeys',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('launched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'live', 'paused', 'archived')", name=op.f('ck_journeys_status')),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_journeys_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_journeys'))
    )
    op.create_index('ix_journeys_workspace_id_status', 'journeys', ['workspace_id', 'status'], unique=False)
    op.create_table('journey_versions',
    sa.Column('journey_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('definition', JSON, nullable=False),
    sa.Column('campaigns', JSON, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id', 'journey_id'], ['journeys.workspace_id', 'journeys.id'], name=op.f('fk_journey_versions_workspace_id_journey_id_journeys'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_journey_versions_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_journey_versions'))
    )
    op.create_index('ix_journey_versions_workspace_id_journey_id_version', 'journey_versions', ['workspace_id', 'journey_id', 'version'], unique=True)
    op.create_table('journey_states',
    sa.Column('journey_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('entry', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('step', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('waiting_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('event', JSON, nullable=False),
    sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('exited_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('exit_reason', sa.String(length=16), nullable=True),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("status IN ('active', 'exited')", name=op.f('ck_journey_states_status')),
    sa.ForeignKeyConstraint(['workspace_id', 'journey_id'], ['journeys.workspace_id', 'journeys.id'], name=op.f('fk_journey_states_workspace_id_journey_id_journeys'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id', 'user_id'], ['users.workspace_id', 'users.id'], name=op.f('fk_journey_states_workspace_id_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_journey_states_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_journey_states'))
    )
    op.create_index('ix_journey_states_workspace_id_journey_id_user_id_entry', 'journey_states', ['workspace_id', 'journey_id', 'user_id', 'entry'], unique=True)
    op.create_index('ix_journey_states_workspace_id_journey_id_user_id_active', 'journey_states', ['workspace_id', 'journey_id', 'user_id'], unique=True, postgresql_where=ACTIVE, sqlite_where=ACTIVE)
    op.create_index('ix_journey_states_workspace_id_due_at_active', 'journey_states', ['workspace_id', 'due_at'], unique=False, postgresql_where=ACTIVE, sqlite_where=ACTIVE)
    op.create_index('ix_journey_states_workspace_id_user_id_active', 'journey_states', ['workspace_id', 'user_id'], unique=False, postgresql_where=ACTIVE, sqlite_where=ACTIVE)
    op.create_table('journey_steps',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('state_id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('journey_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=64), nullable=False),
    sa.Column('outcome', sa.String(length=64), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('workspace_id', 'state_id', 'seq', name=op.f('pk_journey_steps'))
    )
    op.create_index('ix_journey_steps_workspace_id_journey_id_step', 'journey_steps', ['workspace_id', 'journey_id', 'step'], unique=False)
    for table in ("journeys", "journey_versions", "journey_states", "journey_steps"):
        grant_and_protect(table)


def downgrade() -> None:
    op.drop_index('ix_journey_steps_workspace_id_journey_id_step', table_name='journey_steps')
    op.drop_table('journey_steps')
    op.drop_index('ix_journey_states_workspace_id_user_id_active', table_name='journey_states', postgresql_where=ACTIVE, sqlite_where=ACTIVE)
    op.drop_index('ix_journey_states_workspace_id_due_at_active', table_name='journey_states', postgresql_where=ACTIVE, sqlite_where=ACTIVE)
    op.drop_index('ix_journey_states_workspace_id_journey_id_user_id_active', table_name='journey_states', postgresql_where=ACTIVE, sqlite_where=ACTIVE)
    op.drop_index('ix_journey_states_workspace_id_journey_id_user_id_entry', table_name='journey_states')
    op.drop_table('journey_states')
    op.drop_index('ix_journey_versions_workspace_id_journey_id_version', table_name='journey_versions')
    op.drop_table('journey_versions')
    op.drop_index('ix_journeys_workspace_id_status', table_name='journeys')
    op.drop_table('journeys')
