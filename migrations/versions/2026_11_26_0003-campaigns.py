"""Campaigns: campaigns, sends, the delivery ledger, delivery policies, frequency states,
trigger entries; ``nudge_uuid7()`` so the planner's INSERT ... SELECT makes time-ordered ids.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.kit.rls import grant_and_protect

revision: str = '0003'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('deliveries',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('send_id', sa.Uuid(), nullable=False),
    sa.Column('campaign_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('variant', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.SmallInteger(), nullable=False),
    sa.Column('provider_id', sa.String(length=255), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('clicked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('converted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_deliveries'))
    )
    op.create_index('ix_deliveries_workspace_id_lease_until_sending', 'deliveries', ['workspace_id', 'lease_until'], unique=False, postgresql_where=sa.text("status = 'sending'"), sqlite_where=sa.text("status = 'sending'"))
    op.create_index('ix_deliveries_workspace_id_send_id_due_at_id_queued', 'deliveries', ['workspace_id', 'send_id', 'due_at', 'id'], unique=False, postgresql_where=sa.text("status = 'queued'"), sqlite_where=sa.text("status = 'queued'"))
    op.create_index('ix_deliveries_workspace_id_send_id_user_id', 'deliveries', ['workspace_id', 'send_id', 'user_id'], unique=True)
    op.create_table('frequency_states',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('recent', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_frequency_states'))
    )
    op.create_table('campaigns',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('audience', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('variants', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('control_percent', sa.Float(), nullable=False),
    sa.Column('schedule', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('limits', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('goal', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('launched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled')", name=op.f('ck_campaigns_status')),
    sa.CheckConstraint('control_percent >= 0 AND control_percent < 100', name=op.f('ck_campaigns_control_percent')),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_campaigns_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_campaigns'))
    )
    op.create_index('ix_campaigns_workspace_id_status', 'campaigns', ['workspace_id', 'status'], unique=False)
    op.create_table('delivery_policies',
    sa.Column('quiet_hours_start', sa.Time(), nullable=True),
    sa.Column('quiet_hours_end', sa.Time(), nullable=True),
    sa.Column('frequency_caps', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('rate_per_second', sa.Integer(), nullable=True),
    sa.Column('channel_rates', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_delivery_policies_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_delivery_policies'))
    )
    op.create_table('sends',
    sa.Column('campaign_id', sa.Uuid(), nullable=False),
    sa.Column('occurrence', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('timing', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_plan_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('planned_zones', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('planned_count', sa.Integer(), nullable=False),
    sa.Column('dispatch_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("status IN ('planning', 'dispatching', 'done', 'cancelled')", name=op.f('ck_sends_status')),
    sa.ForeignKeyConstraint(['workspace_id', 'campaign_id'], ['campaigns.workspace_id', 'campaigns.id'], name=op.f('fk_sends_workspace_id_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_sends_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_sends'))
    )
    op.create_index('ix_sends_workspace_id_campaign_id_occurrence', 'sends', ['workspace_id', 'campaign_id', 'occurrence'], unique=True)
    op.create_index('ix_sends_workspace_id_status_next_plan_at', 'sends', ['workspace_id', 'status', 'next_plan_at'], unique=False)
    op.create_table('trigger_entries',
    sa.Column('campaign_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('entries', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id', 'campaign_id'], ['campaigns.workspace_id', 'campaigns.id'], name=op.f('fk_trigger_entries_workspace_id_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id', 'user_id'], ['users.workspace_id', 'users.id'], name=op.f('fk_trigger_entries_workspace_id_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_trigger_entries_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_trigger_entries'))
    )

    if op.get_bind().dialect.name == "postgresql":
        # RFC 9562 UUIDv7 (48-bit Unix ms, version 7) from a random v4; Postgres 18 has uuidv7().
        op.execute(
            """
            CREATE OR REPLACE FUNCTION nudge_uuid7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
              SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) PLACING
                substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
            $$
            """
        )
    for table in ("campaigns", "sends", "deliveries", "delivery_policies", "frequency_states", "trigger_entries"):
        grant_and_protect(table)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS nudge_uuid7()")
    op.drop_table('trigger_entries')
    op.drop_index('ix_sends_workspace_id_status_next_plan_at', table_name='sends')
    op.drop_index('ix_sends_workspace_id_campaign_id_occurrence', table_name='sends')
    op.drop_table('sends')
    op.drop_table('delivery_policies')
    op.drop_index('ix_campaigns_workspace_id_status', table_name='campaigns')
    op.drop_table('campaigns')
    op.drop_table('frequency_states')
    op.drop_index('ix_deliveries_workspace_id_send_id_user_id', table_name='deliveries')
    op.drop_index('ix_deliveries_workspace_id_send_id_due_at_id_queued', table_name='deliveries', postgresql_where=sa.text("status = 'queued'"), sqlite_where=sa.text("status = 'queued'"))
    op.drop_index('ix_deliveries_workspace_id_lease_until_sending', table_name='deliveries', postgresql_where=sa.text("status = 'sending'"), sqlite_where=sa.text("status = 'sending'"))
    op.drop_table('deliveries')
