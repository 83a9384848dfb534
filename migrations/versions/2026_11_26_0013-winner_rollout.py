"""Winner roll-out and incremental conversions: a campaign's roll-out settings, a roll-out
send's decision, the stable share function that splits the test share from the rest inside
the planner's snapshot, and each campaign's conversion mark (``conversions_through``: goal
events up to this id are attributed).

``nudge_share_unit(campaign, user)`` is a number in [0, 1) fixed for the pair: the first 52
bits of md5 over both ids in hex. ``app.delivery.rules.share_unit`` is the same function in
Python (and is registered under this name on SQLite connections).

Revision ID: 0013
Revises: 0010
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0013'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.add_column('campaigns', sa.Column('rollout', _JSON, nullable=True))
    op.add_column('campaigns', sa.Column('conversions_through', sa.Uuid(), nullable=True))
    op.add_column('sends', sa.Column('decision', _JSON, nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(
            """
            CREATE OR REPLACE FUNCTION nudge_share_unit(campaign uuid, member uuid)
            RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
              SELECT ('x' || substr(md5(replace(campaign::text, '-', '') || replace(member::text, '-', '')),
                                    1, 13))::bit(52)::bigint::double precision / 4503599627370496.0
            $$
            """
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP FUNCTION IF EXISTS nudge_share_unit(uuid, uuid)')
    op.drop_column('sends', 'decision')
    op.drop_column('campaigns', 'conversions_through')
    op.drop_column('campaigns', 'rollout')
