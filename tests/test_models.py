"""The shape every table keeps: workspace_id first, UTC times, tenant-aware foreign keys."""

from __future__ import annotations

from sqlalchemy import DateTime

from app.kit.types import UtcDateTime
from app.models import Base

TENANT_TABLES = [t for t in Base.metadata.sorted_tables if "workspace_id" in t.c]
# Indexes that cannot lead with workspace_id, and why.
NOT_LEADING = {
    # Keys are looked up by hash before the workspace is known.
    "ix_api_keys_key_hash",
    # A GIN index over jsonb cannot hold a uuid column without the btree_gin extension; queries
    # combine it with the workspace_id indexes.
    "ix_users_attributes",
    # An operator's workspaces are looked up at login, before any workspace is chosen.
    "ix_memberships_operator_id_workspace_id",
}


def test_there_are_tenant_tables():
    assert {"users", "devices", "events", "api_keys", "idempotency_keys"} <= {t.name for t in TENANT_TABLES}


def test_workspace_id_leads_every_tenant_primary_key():
    for table in TENANT_TABLES:
        assert table.primary_key.columns.values()[0].name == "workspace_id", table.name


def test_workspace_id_leads_every_tenant_index():
    for table in TENANT_TABLES:
        for index in table.indexes:
            if index.name in NOT_LEADING:
                continue
            assert index.columns.values()[0].name == "workspace_id", index.name


def test_foreign_keys_between_tenant_tables_carry_the_workspace():
    checked = 0
    for table in TENANT_TABLES:
        for constraint in table.foreign_key_constraints:
            if constraint.referred_table in TENANT_TABLES:  # not workspaces or global operators
                assert "workspace_id" in constraint.column_keys, (table.name, constraint.name)
                checked += 1
    assert checked >= 2


def test_every_stored_time_is_a_utc_instant():
    for table in Base.metadata.sorted_tables:
        for column in table.c:
            if isinstance(column.type, DateTime | UtcDateTime):
                assert isinstance(column.type, UtcDateTime), f"{table.name}.{column.name}"
