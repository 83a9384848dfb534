"""Cheaper snapshot rows: every index on the ledger and every id is paid for by each of a
million rows a campaign's snapshot queues.

- The (workspace, campaign, id) index goes: it served merge joins of a campaign's ledger with
  its engagements, which the funnel no longer makes since 0017 (it adds up counters on the
  ledger rows); a campaign's rows are still found through (workspace, campaign, user).
- The (workspace, sent_at) index keeps only sent rows: its readers (messages per day, segment
  conditions on received messages) all ask for a sent_at, and queued rows have none.
- ``nudge_uuid7()`` builds the id's text from one random UUID and the clock's milliseconds
  instead of editing bytes and setting bits (about half the cost a row, same layout).

Revision ID: 0020_snapshot_speed
Revises: 0019_content_exposures
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_snapshot_speed"
down_revision: str | None = "0019_content_exposures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# RFC 9562 UUIDv7: 48-bit Unix milliseconds (12 hex digits), version 7, then the random
# digits of a v4 UUID after its version digit (its variant bits are already 10).
_UUID7 = """
CREATE OR REPLACE FUNCTION nudge_uuid7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT (lpad(to_hex(floor(date_part('epoch', clock_timestamp()) * 1000)::bigint), 12, '0')
          || '7' || substr(gen_random_uuid()::text, 16))::uuid
$$
"""
_UUID7_BEFORE = """
CREATE OR REPLACE FUNCTION nudge_uuid7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) PLACING
    substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
    FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$
"""
_SENT = sa.text("sent_at IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_deliveries_workspace_id_campaign_id_id", table_name="deliveries")
    op.drop_index("ix_deliveries_workspace_id_sent_at", table_name="deliveries")
    op.create_index(
        "ix_deliveries_workspace_id_sent_at",
        "deliveries",
        ["workspace_id", "sent_at"],
        postgresql_where=_SENT,
        sqlite_where=_SENT,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_UUID7)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_UUID7_BEFORE)
    op.drop_index("ix_deliveries_workspace_id_sent_at", table_name="deliveries")
    op.create_index("ix_deliveries_workspace_id_sent_at", "deliveries", ["workspace_id", "sent_at"])
    op.create_index(
        "ix_deliveries_workspace_id_campaign_id_id", "deliveries", ["workspace_id", "campaign_id", "id"]
    )
