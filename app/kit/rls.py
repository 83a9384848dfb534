"""Row-level security DDL, used by migrations for every tenant-owned table."""

from __future__ import annotations

import os

from alembic import op

from app.kit.settings import Settings

# A row is visible when it belongs to the transaction's workspace, or the transaction runs
# in system scope (planners discovering due work across workspaces). An unset workspace is
# NULL, so it matches nothing. The settings are read in scalar subqueries: the planner makes
# them InitPlans, evaluated once per statement rather than for every row.
_VISIBLE = (
    "workspace_id = (SELECT nullif(current_setting('nudge.workspace_id', true), '')::uuid)"
    " OR (SELECT current_setting('nudge.system', true) = 'on')"
)


def _role() -> str:
    default = Settings.model_fields["database_role"].default
    return os.environ.get("NUDGE_DATABASE_ROLE", default)


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def ensure_app_role() -> None:
    """Create the role the app switches to (no BYPASSRLS) and let the login user assume it."""
    role = _role()
    if not role or not _is_postgres():
        return
    op.execute(
        f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
            CREATE ROLE "{role}" NOLOGIN NOBYPASSRLS;
          END IF;
          IF NOT pg_has_role(current_user, '{role}', 'MEMBER') THEN
            EXECUTE format('GRANT "{role}" TO %I', current_user);
          END IF;
        END $$;
        """
    )
    op.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')


def grant_and_protect(table: str, *, tenant: bool = True) -> None:
    """Grant the app role DML on ``table``; with ``tenant``, force the isolation policy on it."""
    if not _is_postgres():
        return
    role = _role()
    if role:
        op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON "{table}" TO "{role}"')
    if tenant:
        op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
        op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
        op.execute(f'CREATE POLICY tenant_isolation ON "{table}" USING ({_VISIBLE}) WITH CHECK ({_VISIBLE})')
