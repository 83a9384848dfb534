"""The ledger counts each row's opens and clicks (repeats included) and keeps its first
unsubscribe, written by the tracking write with every engagement: the campaign funnel adds
them up in its one pass over the ledger instead of joining every engagement of the campaign.
The counts start at zero without rewriting the table (a constant default), then rows with
engagements are filled in from them. No index covers the new columns, so the tracking updates
stay HOT.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.tracking.service import backfill_counts

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries') as batch:
        batch.add_column(sa.Column('opens', sa.Integer(), server_default=sa.text('0'), nullable=False))
        batch.add_column(sa.Column('clicks', sa.Integer(), server_default=sa.text('0'), nullable=False))
        batch.add_column(sa.Column('unsubscribed_at', sa.DateTime(timezone=True), nullable=True))
    backfill_counts(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table('deliveries') as batch:
        batch.drop_column('unsubscribed_at')
        batch.drop_column('clicks')
        batch.drop_column('opens')
