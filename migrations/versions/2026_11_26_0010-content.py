"""Dynamic content: typed variables with segment rules and A/B variants.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.kit.rls import grant_and_protect

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('variables',
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('description', sa.String(length=2000), nullable=True),
    sa.Column('default_value', JSON, nullable=False),
    sa.Column('rules', JSON, nullable=False),
    sa.Column('variants', JSON, nullable=False),
    sa.Column('experiment', sa.String(length=128), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_variables_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_variables'))
    )
    op.create_index('ix_variables_workspace_id_key', 'variables', ['workspace_id', 'key'], unique=True)
    grant_and_protect('variables')


def downgrade() -> None:
    op.drop_index('ix_variables_workspace_id_key', table_name='variables')
    op.drop_table('variables')
