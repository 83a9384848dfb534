"""A workspace's served variables, compiled once and resolved per user.

Every rule's segment becomes one column of ONE statement over the user's row (the segment
compiler's per-user predicates: the user's own index entries, whatever the segment's size),
so a request costs one query however many rules the variables have. Variants reuse the
campaigns' stable assignment, seeded by the experiment (or the variable's key) and the user.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, bindparam, func, literal, select
from sqlalchemy.orm import Session

from app.delivery.rules import assign_variant
from app.kit import sql
from app.kit.db import current_workspace
from app.models import Segment, User, Variable
from app.models.base import utcnow
from app.segments.compiler import has_unresolved, member_predicate
from app.segments.definition import DefinitionError, SegmentDefinition
from app.segments.references import resolve
from app.segments.validation import parse_definition

log = logging.getLogger(__name__)
users = User.__table__
variables_table = Variable.__table__
segments_table = Segment.__table__
MAX_STATEMENTS = 64  # distinct ``?keys=`` selections remembered per compiled set
# A statement's relative dates ("in the last 30 days", up to now) are fixed when it is
# rendered: rendered again past this age, so what a user just did counts within it.
NOW_S = 1.0


@dataclass(frozen=True)
class CompiledVariable:
    key: str
    default: Any
    rules: tuple[tuple[int | None, Any], ...]  # (condition index, value); None never matches
    variants: tuple[dict[str, Any], ...]
    experiment: str  # the variable's experiment, or its key: what its variants are assigned by
    seed: uuid.UUID

    @property
    def conditions(self) -> set[int]:
        return {c for c, _ in self.rules if c is not None}


@dataclass(frozen=True, slots=True)
class Resolved:
    values: dict[str, Any]
    variants: dict[str, str]  # the variant served, by variable key
    experiments: dict[str, str]  # the same, by experiment: the exposures to record
    user_id: uuid.UUID | None  # None: a user Nudge does not know


@dataclass
class CompiledSet:
    workspace_id: uuid.UUID
    variables: dict[str, CompiledVariable]
    conditions: list[SegmentDefinition]
    compiled_at: float
    dialect: str
    stamp: tuple[tuple[Any, ...], ...]
    _statements: dict[frozenset[int], UserQuery] = field(default_factory=dict)

    def resolve(self, session: Session, external_id: str, keys: Iterable[str] | None) -> Resolved:
        """Values and variants for one user. An unknown user gets every default."""
        chosen = (
            [self.variables[k] for k in keys if k in self.variables]
            if keys is not None
            else list(self.variables.values())
        )
        needed = frozenset().union(*(v.conditions for v in chosen)) if chosen else frozenset()
        row: Mapping[str, Any] | None = None
        if needed or any(v.variants for v in chosen):
            row = self._statement(session, needed).run(session, external_id)
        values: dict[str, Any] = {}
        variants: dict[str, str] = {}
        experiments: dict[str, str] = {}
        for variable in chosen:
            values[variable.key] = variable.default
            if row is None:
                continue
            matched = next((r for r in variable.rules if r[0] is not None and row[f"c{r[0]}"]), None)
            if matched is not None:
                values[variable.key] = matched[1]
            elif variable.variants:
                key = assign_variant(variable.seed, row["id"], variable.variants, 0.0)
                variants[variable.key] = experiments[variable.experiment] = key
                values[variable.key] = next(v["value"] for v in variable.variants if v["key"] == key)
        return Resolved(values, variants, experiments, None if row is None else row["id"])

    def _statement(self, session: Session, needed: frozenset[int]) -> UserQuery:
        statement = self._statements.get(needed)
        if statement is None or time.monotonic() - statement.rendered_at > NOW_S:
            now = utcnow()
            columns = [
                member_predicate(self.workspace_id, self.conditions[i], dialect=self.dialect, now=now).label(
                    f"c{i}"
                )
                for i in sorted(needed)
            ]
            select_user = select(users.c.id, *columns).where(
                users.c.workspace_id == self.workspace_id,
                users.c.external_id == bindparam("external_id", value=""),
            )
            statement = UserQuery.of(session, select_user)
            if len(self._statements) >= MAX_STATEMENTS:
                self._statements.clear()
            self._statements[needed] = statement
        return statement


@dataclass(frozen=True)
class UserQuery:
    """One user's row with a column per condition. On Postgres the statement is rendered to SQL
    once, with its values bound and processed, and each request runs it on the driver's
    cursor: SQLAlchemy's execution re-rendered the statement's ``IN`` lists into the SQL on
    every request, about half of the endpoint's CPU."""

    statement: Select[Any]
    rendered_at: float = field(default_factory=time.monotonic)
    sql: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, session: Session, statement: Select[Any]) -> UserQuery:
        dialect = session.get_bind().dialect
        if dialect.name != "postgresql":
            return cls(statement)
        compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        params = {}
        for name, value in compiled.params.items():
            bind = compiled.binds.get(name)
            process = bind.type.dialect_impl(dialect).bind_processor(dialect) if bind is not None else None
            params[name] = process(value) if process is not None else value
        return cls(statement, sql=compiled.string, params=params)

    def run(self, session: Session, external_id: str) -> Mapping[str, Any] | None:
        if self.sql is None:
            # Core on the session's connection: the statement is already scoped to the workspace.
            found = session.connection().execute(self.statement, {"external_id": external_id}).first()
            return None if found is None else found._mapping
        cursor = sql.pg_cursor(session)
        cursor.execute(self.sql, {**self.params, "external_id": external_id})
        values = cursor.fetchone()
        if values is None:
            return None
        return dict(zip((column.name for column in cursor.description or ()), values, strict=True))


def compile_set(session: Session, stamp: tuple[tuple[Any, ...], ...] | None = None) -> CompiledSet:
    """The session's workspace's unarchived variables, with every rule's segment resolved now
    (so a changed saved segment is followed at the next compile). ``stamp``: the content stamp
    the caller has just read, if it has."""
    workspace_id = current_workspace(session)
    # Read first: a change landing meanwhile shows at the next check.
    stamp = stamp if stamp is not None else content_stamp(session)
    variables = list(session.scalars(select(Variable).where(Variable.archived_at.is_(None))))
    saved_ids = {uuid.UUID(r["segment_id"]) for v in variables for r in v.rules if "segment_id" in r}
    saved = (
        {s.id: s.definition for s in session.scalars(select(Segment).where(Segment.id.in_(saved_ids)))}
        if saved_ids
        else {}
    )
    conditions: list[SegmentDefinition] = []
    index: dict[str, int] = {}

    def condition(rule: dict[str, Any], variable: str) -> int | None:
        identity = rule.get("segment_id") or repr(rule["definition"])
        if identity not in index:
            definition = _definition(session, rule, saved, variable)
            if definition is None:
                return None
            index[identity] = len(conditions)
            conditions.append(definition)
        return index[identity]

    compiled: dict[str, CompiledVariable] = {}
    for v in variables:
        experiment = v.experiment or v.key
        compiled[v.key] = CompiledVariable(
            key=v.key,
            default=v.default_value,
            rules=tuple((condition(r, v.key), r["value"]) for r in v.rules),
            variants=tuple(v.variants),
            experiment=experiment,
            seed=uuid.uuid5(workspace_id, f"experiment:{experiment}"),
        )
    dialect = session.get_bind().dialect.name
    return CompiledSet(workspace_id, compiled, conditions, time.monotonic(), dialect, stamp)


def content_stamp(session: Session) -> tuple[tuple[Any, ...], ...]:
    """What the compiled set depends on, in one small query: every change to a variable adds
    to its version (and a new or deleted one changes the count); every change to a segment,
    which rules name or embed, moves its ``updated_at``."""
    workspace_id = current_workspace(session)
    versions = func.coalesce(func.sum(variables_table.c.version), 0)
    variables = select(func.count(), versions, func.max(variables_table.c.updated_at)).where(
        variables_table.c.workspace_id == workspace_id
    )
    segments = select(func.count(), literal(0), func.max(segments_table.c.updated_at)).where(
        segments_table.c.workspace_id == workspace_id
    )
    return tuple(tuple(row) for row in session.execute(variables.union_all(segments)))


def _definition(
    session: Session, rule: dict[str, Any], saved: dict[uuid.UUID, dict[str, Any]], variable: str
) -> SegmentDefinition | None:
    """A rule's segment, resolved; None (the rule never matches) when its saved segment was
    deleted or an inline reference no longer resolves."""
    try:
        if "segment_id" in rule:
            stored = saved.get(uuid.UUID(rule["segment_id"]))
            return None if stored is None else parse_definition(stored)
        parsed = parse_definition(rule["definition"])
        return resolve(session, parsed) if has_unresolved(parsed) else parsed
    except DefinitionError as exc:
        log.warning("variable %r: a rule is skipped: %s", variable, exc)
        return None
