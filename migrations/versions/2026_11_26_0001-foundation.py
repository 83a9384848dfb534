"""Foundation: workspaces, API keys, users, devices, events, idempotency keys.

Revision ID: 0001
Revises: 
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.kit.rls import ensure_app_role, grant_and_protect

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('workspaces',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workspaces'))
    )
    op.create_table('api_keys',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('prefix', sa.String(length=24), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('secret', 'publishable')", name=op.f('ck_api_keys_kind')),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_api_keys_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_api_keys'))
    )
    op.create_index('ix_api_keys_key_hash', 'api_keys', ['key_hash'], unique=True)
    op.create_table('idempotency_keys',
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.SmallInteger(), nullable=True),
    sa.Column('response_body', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_idempotency_keys_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_idempotency_keys'))
    )
    op.create_index('ix_idempotency_keys_workspace_id_created_at', 'idempotency_keys', ['workspace_id', 'created_at'], unique=False)
    op.create_index('ix_idempotency_keys_workspace_id_key', 'idempotency_keys', ['workspace_id', 'key'], unique=True)
    op.create_table('user_erasures',
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('events', sa.Integer(), nullable=False),
    sa.Column('devices', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_user_erasures_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_user_erasures'))
    )
    op.create_table('users',
    sa.Column('external_id', sa.String(length=255), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=True),
    sa.Column('locale', sa.String(length=35), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('region', sa.String(length=100), nullable=True),
    sa.Column('city', sa.String(length=100), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('first_name', sa.String(length=100), nullable=True),
    sa.Column('last_name', sa.String(length=100), nullable=True),
    sa.Column('attributes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('email_status', sa.String(length=16), nullable=False),
    sa.Column('push_status', sa.String(length=16), nullable=False),
    sa.Column('in_app_status', sa.String(length=16), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("email_status IN ('subscribed', 'unsubscribed')", name=op.f('ck_users_email_status')),
    sa.CheckConstraint("in_app_status IN ('subscribed', 'unsubscribed')", name=op.f('ck_users_in_app_status')),
    sa.CheckConstraint("push_status IN ('subscribed', 'unsubscribed')", name=op.f('ck_users_push_status')),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_users_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_users'))
    )
    op.create_index('ix_users_attributes', 'users', ['attributes'], unique=False, postgresql_using='gin', postgresql_ops={'attributes': 'jsonb_path_ops'})
    op.create_index('ix_users_workspace_id_email', 'users', ['workspace_id', 'email'], unique=False)
    op.create_index('ix_users_workspace_id_external_id', 'users', ['workspace_id', 'external_id'], unique=True)
    op.create_table('devices',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('token', sa.Text(), nullable=False),
    sa.Column('apns_environment', sa.String(length=16), nullable=True),
    sa.Column('webpush_p256dh', sa.String(length=200), nullable=True),
    sa.Column('webpush_auth', sa.String(length=100), nullable=True),
    sa.Column('app_version', sa.String(length=50), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('disabled_reason', sa.String(length=100), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("apns_environment IS NULL OR apns_environment IN ('sandbox', 'production')", name=op.f('ck_devices_apns_environment')),
    sa.CheckConstraint("platform IN ('fcm', 'apns', 'webpush')", name=op.f('ck_devices_platform')),
    sa.ForeignKeyConstraint(['workspace_id', 'user_id'], ['users.workspace_id', 'users.id'], name=op.f('fk_devices_workspace_id_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_devices_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_devices'))
    )
    op.create_index('ix_devices_workspace_id_platform_token', 'devices', ['workspace_id', 'platform', 'token'], unique=True)
    op.create_index('ix_devices_workspace_id_user_id', 'devices', ['workspace_id', 'user_id'], unique=False)
    op.create_table('events',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('properties', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('message_id', sa.String(length=200), nullable=True),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id', 'user_id'], ['users.workspace_id', 'users.id'], name=op.f('fk_events_workspace_id_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_events_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_events'))
    )
    op.create_index('ix_events_workspace_id_message_id', 'events', ['workspace_id', 'message_id'], unique=True, postgresql_where=sa.text('message_id IS NOT NULL'), sqlite_where=sa.text('message_id IS NOT NULL'))
    op.create_index('ix_events_workspace_id_name_occurred_at_user_id', 'events', ['workspace_id', 'name', 'occurred_at', 'user_id'], unique=False)
    op.create_index('ix_events_workspace_id_user_id_occurred_at', 'events', ['workspace_id', 'user_id', 'occurred_at'], unique=False)

    ensure_app_role()
    for table in ("workspaces", "api_keys"):
        grant_and_protect(table, tenant=False)
    for table in ("users", "devices", "events", "idempotency_keys", "user_erasures"):
        grant_and_protect(table)

def downgrade() -> None:
    op.drop_index('ix_events_workspace_id_user_id_occurred_at', table_name='events')
    op.drop_index('ix_events_workspace_id_name_occurred_at_user_id', table_name='events')
    op.drop_index('ix_events_workspace_id_message_id', table_name='events', postgresql_where=sa.text('message_id IS NOT NULL'), sqlite_where=sa.text('message_id IS NOT NULL'))
    op.drop_table('events')
    op.drop_index('ix_devices_workspace_id_user_id', table_name='devices')
    op.drop_index('ix_devices_workspace_id_platform_token', table_name='devices')
    op.drop_table('devices')
    op.drop_index('ix_users_workspace_id_external_id', table_name='users')
    op.drop_index('ix_users_workspace_id_email', table_name='users')
    op.drop_index('ix_users_attributes', table_name='users', postgresql_using='gin', postgresql_ops={'attributes': 'jsonb_path_ops'})
    op.drop_table('users')
    op.drop_table('user_erasures')
    op.drop_index('ix_idempotency_keys_workspace_id_key', table_name='idempotency_keys')
    op.drop_index('ix_idempotency_keys_workspace_id_created_at', table_name='idempotency_keys')
    op.drop_table('idempotency_keys')
    op.drop_index('ix_api_keys_key_hash', table_name='api_keys')
    op.drop_table('api_keys')
    op.drop_table('workspaces')
