"""Deliveries of triggered sends remember the event that triggered them, so templates can read
``event.name``, ``event.timestamp`` and ``event.properties``. Nullable and without a default:
adding it rewrites nothing, and the rows of other sends keep NULL.

Revision ID: 0015
Revises: 0013
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries') as batch:
        batch.add_column(sa.Column('event_id', sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deliveries') as batch:
        batch.drop_column('event_id')
