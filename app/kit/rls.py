"""Row-level security DDL, used by migrations for every tenant-owned table."""

from __future__ import annotations

import os

from alembic import op

from app.kit.settings import Settings

# A row is visible when it belongs to the transaction's workspace, or the transaction runs
# in system scope (planners discovering due work across workspaces). An unset workspace is
# NULL, so it matches nothing. The settings are read in scalar subqueries, which Postgres
# evaluates once per statement (an InitPlan) instead of once per row: scanning a million
# users that is the difference between ~0.5 us and ~0.02 us a row.
_VISIBLE = (
    "workspace_id = (SELECT nullif(current_setting('nudge.workspace_id', true), '')::uuid)"
    " OR (SELECT current_setting('nudge.system', true)) = 'on'"
)
# Rows that name an operator (memberships) are also readable by that operator's transactions,
# across workspaces; writing still needs the workspace scope.
_OPERATOR_READABLE = "operator_id = nullif(current_setting('nudge.operator_id', true), '')::uuid"


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


def grant_and_protect(table: str, *, tenant: bool = True, operator_readable: bool = False) -> None:
    """Grant the app role DML on ``table``; with ``tenant``, force the isolation policy on it;
    with ``operator_readable``, its ``operator_id`` rows are also visible to that operator."""
    if not _is_postgres():
        return
    role = _role()
    if role:
        op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON "{table}" TO "{role}"')
    if tenant:
        op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
        op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
        using = f"{_VISIBLE} OR {_OPERATOR_READABLE}" if operator_readable else _VISIBLE
        op.execute(f'CREATE POLICY tenant_isolation ON "{table}" USING ({using}) WITH CHECK ({_VISIBLE})')


def refresh_policy(table: str, visible: str = _VISIBLE) -> None:
    """Give an existing tenant table the current isolation policy (same rows, cheaper check)."""
    if _is_postgres():
        op.execute(f'ALTER POLICY tenant_isolation ON "{table}" USING ({visible}) WITH CHECK ({visible})')
