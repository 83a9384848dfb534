"""Ingest speed: events lose a redundant foreign key, users' pages keep room for in-place
last-seen updates.

- ``events.workspace_id`` no longer references ``workspaces``: the key ``(workspace_id, user_id)``
  to ``users`` already implies it (a user's workspace exists) and cascades a workspace's deletion
  through its users. The dropped key also took a share lock on the workspace's single row for
  every inserted event, which all concurrent ingest transactions of a workspace contend for.
- ``users`` fillfactor 80: ingest widens first/last seen of every user a batch names; with free
  room on the page those updates are HOT (in place, no index writes).

Revision ID: 0006
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0006'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WORKSPACE_FK = 'fk_events_workspace_id_workspaces'


def upgrade() -> None:
    with op.batch_alter_table('events') as batch:
        batch.drop_constraint(_WORKSPACE_FK, type_='foreignkey')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE users SET (fillfactor = 80)')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE users RESET (fillfactor)')
    with op.batch_alter_table('events') as batch:
        batch.create_foreign_key(_WORKSPACE_FK, 'workspaces', ['workspace_id'], ['id'], ondelete='CASCADE')
