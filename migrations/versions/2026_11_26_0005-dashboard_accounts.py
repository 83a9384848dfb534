"""Dashboard accounts: operators, memberships, invitations, sessions, login throttles.

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.kit.rls import grant_and_protect

revision: str = '0005'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('login_throttles',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttles'))
    )
    op.create_table('operators',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operators'))
    )
    op.create_index('ix_operators_email', 'operators', ['email'], unique=True)
    op.create_table('invitations',
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('invited_by', sa.Uuid(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('owner', 'admin', 'marketer', 'analyst', 'viewer')", name=op.f('ck_invitations_role')),
    sa.ForeignKeyConstraint(['invited_by'], ['operators.id'], name=op.f('fk_invitations_invited_by_operators'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_invitations_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_invitations'))
    )
    op.create_index('ix_invitations_workspace_id_email', 'invitations', ['workspace_id', 'email'], unique=False)
    op.create_index('ix_invitations_workspace_id_token_hash', 'invitations', ['workspace_id', 'token_hash'], unique=True)
    op.create_table('memberships',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('operator_id', sa.Uuid(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('owner', 'admin', 'marketer', 'analyst', 'viewer')", name=op.f('ck_memberships_role')),
    sa.ForeignKeyConstraint(['operator_id'], ['operators.id'], name=op.f('fk_memberships_operator_id_operators'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_memberships_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'operator_id', name=op.f('pk_memberships'))
    )
    op.create_index('ix_memberships_operator_id_workspace_id', 'memberships', ['operator_id', 'workspace_id'], unique=False)
    op.create_table('operator_sessions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('operator_id', sa.Uuid(), nullable=False),
    sa.Column('last_workspace_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['last_workspace_id'], ['workspaces.id'], name=op.f('fk_operator_sessions_last_workspace_id_workspaces'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['operator_id'], ['operators.id'], name=op.f('fk_operator_sessions_operator_id_operators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_sessions'))
    )
    op.create_index('ix_operator_sessions_operator_id', 'operator_sessions', ['operator_id'], unique=False)
    op.create_index('ix_operator_sessions_token_hash', 'operator_sessions', ['token_hash'], unique=True)

    # Looked up before any workspace is known (by email, token hash, throttle key): no RLS.
    for table in ("operators", "operator_sessions", "login_throttles"):
        grant_and_protect(table, tenant=False)
    grant_and_protect("invitations")
    grant_and_protect("memberships", operator_readable=True)



def downgrade() -> None:
    op.drop_index('ix_operator_sessions_token_hash', table_name='operator_sessions')
    op.drop_index('ix_operator_sessions_operator_id', table_name='operator_sessions')
    op.drop_table('operator_sessions')
    op.drop_index('ix_memberships_operator_id_workspace_id', table_name='memberships')
    op.drop_table('memberships')
    op.drop_index('ix_invitations_workspace_id_token_hash', table_name='invitations')
    op.drop_index('ix_invitations_workspace_id_email', table_name='invitations')
    op.drop_table('invitations')
    op.drop_index('ix_operators_email', table_name='operators')
    op.drop_table('operators')
    op.drop_table('login_throttles')
