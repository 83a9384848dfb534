"""A segment definition becomes ONE SQL statement (SQLAlchemy Core, Postgres and SQLite).

Shape, for everyone at once (``members_select``)::

    SELECT users.id AS user_id FROM users
      LEFT JOIN (SELECT user_id FROM events WHERE <scope> GROUP BY user_id HAVING <test>) c1
        ON c1.user_id = users.id
      ...
    WHERE users.workspace_id = :w AND <boolean tree over users' columns and c1.user_id IS [NOT] NULL>

Each condition on related rows is one derived table computed once (an index range scan of
events feeding a hash aggregate) and hash-joined, so AND, OR and NOT all stay set operations;
NOT over such a table becomes an anti-join. For one user (``is_member``) the same conditions
become correlated subqueries that read only that user's index entries.

NOT is pushed down to the leaves (negation normal form); a leaf negates as ``p IS NOT TRUE``,
so a missing value (NULL) never makes "not X" unknown: it is simply not X.

On Postgres, when there are derived tables, the whole condition is wrapped in one opaque
``coalesce(..., false)``: the planner has no statistics inside JSON and would otherwise think
almost no user passes, then rescan a derived table per user (a nested loop).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import FromClause

from app.kit.db import current_workspace
from app.models import User
from app.segments.context import Context, Dialect
from app.segments.definition import (
    AllGroup,
    AnyGroup,
    AttributeCondition,
    DefinitionError,
    EventCondition,
    FieldCondition,
    NotGroup,
    SegmentCondition,
    SegmentDefinition,
)
from app.segments.operands import Predicate, split_op
from app.segments.relations import Relation, RelationCondition, build_relation
from app.segments.scalars import ScalarCondition, scalar_predicate
from app.segments.validation import parse_definition, walk

users = User.__table__
MAX_EXPANDED_NODES = 1000
_DIALECTS: tuple[Dialect, ...] = ("postgresql", "sqlite")


def members_select(
    workspace_id: uuid.UUID, definition: dict[str, Any] | SegmentDefinition, *, dialect: str, now: datetime
) -> Select[Any]:
    """The workspace's users matching ``definition``: one column ``user_id``, a plain selectable
    for ``INSERT ... SELECT``. Saved-segment references must be resolved (stored definitions
    are; for others see app.segments.references.resolve)."""
    ctx = Context(workspace_id, _dialect(dialect), now, "set")
    compiler = _Compiler(ctx)
    predicate = compiler.root(_parsed(definition).match)
    statement = select(users.c.id.label("user_id")).select_from(compiler.from_clause())
    if compiler.joined and ctx.postgres:
        # Postgres has no statistics for conditions inside JSON and may estimate that almost no
        # user passes them; it would then rescan each derived table once per user (a nested
        # loop). As one opaque expression the conditions get a neutral estimate, so the joins
        # are planned on the workspace's real size: hash joins, in parallel workers.
        predicate = func.coalesce(predicate, false())
    return statement.where(users.c.workspace_id == workspace_id, predicate)


def member_predicate(
    workspace_id: uuid.UUID, definition: dict[str, Any] | SegmentDefinition, *, dialect: str, now: datetime
) -> Predicate:
    """The definition as a predicate over one row of ``users`` (correlated subqueries)."""
    compiler = _Compiler(Context(workspace_id, _dialect(dialect), now, "user"))
    return compiler.predicate(_parsed(definition).match, False, "match")


def is_member(
    session: Session, definition: dict[str, Any] | SegmentDefinition, user_id: uuid.UUID, *, now: datetime
) -> bool:
    """Whether one user (of the session's workspace) matches at ``now`` (relative dates count
    from it): a primary-key lookup plus the user's own index entries, whatever the size of the
    segment."""
    from app.segments.references import resolve

    workspace_id = current_workspace(session)
    parsed = _parsed(definition)
    resolved = resolve(session, parsed) if has_unresolved(parsed) else parsed
    predicate = member_predicate(workspace_id, resolved, dialect=session.get_bind().dialect.name, now=now)
    statement = select(literal(1)).where(
        users.c.workspace_id == workspace_id, users.c.id == user_id, predicate
    )
    return session.execute(statement).first() is not None


def has_unresolved(definition: SegmentDefinition) -> bool:
    return any(
        isinstance(node, SegmentCondition) and node.resolved is None
        for _, node, _ in walk(definition.match, "")
    )


def _parsed(definition: dict[str, Any] | SegmentDefinition) -> SegmentDefinition:
    try:
        return parse_definition(definition)
    except DefinitionError as exc:
        raise exc.to_invalid() from None


def _dialect(name: str) -> Dialect:
    if name not in _DIALECTS:
        raise ValueError(f"segments compile for {', '.join(_DIALECTS)}, not {name!r}")
    return name  # type: ignore[return-value]


class _Compiler:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.joined: dict[str, FromClause] = {}
        self.required: set[str] = set()  # derived tables every member is in: inner joins
        self.presence: list[tuple[Predicate, str]] = []  # "user is in derived table" tests
        self.nodes = 0

    def from_clause(self) -> FromClause:
        source: FromClause = users
        for key, derived in self.joined.items():
            on = derived.c.user_id == users.c.id
            source = source.join(derived, on) if key in self.required else source.outerjoin(derived, on)
        return source

    def root(self, match: Any) -> Predicate:
        """The whole tree. A top-level condition that every member must have a row for (did E,
        sum > 100...) becomes an inner join, which the planner may drive from that often small
        table instead of scanning every user."""
        if not isinstance(match, AllGroup):
            return self._top_level(match, "match")
        parts = [self._top_level(node, f"match.all[{i}]") for i, node in enumerate(match.all)]
        return and_(*parts) if parts else true()

    def _top_level(self, node: Any, path: str) -> Predicate:
        predicate = self.predicate(node, False, path)
        key = next((k for test, k in self.presence if test is predicate), None)
        if key is None:
            return predicate
        self.required.add(key)
        return true()

    def predicate(self, node: Any, negate: bool, path: str) -> Predicate:
        self.nodes += 1
        if self.nodes > MAX_EXPANDED_NODES:
            message = f"with saved segments expanded, a definition is limited to {MAX_EXPANDED_NODES} nodes"
            raise DefinitionError(path, message, limit=True).to_invalid()
        if isinstance(node, AllGroup | AnyGroup):
            return self._group(node, negate, path)
        if isinstance(node, NotGroup):
            return self.predicate(node.not_, not negate, f"{path}.not")
        if isinstance(node, SegmentCondition):
            if node.resolved is None:
                raise DefinitionError(path, "saved segment reference is not resolved").to_invalid()
            return self.predicate(node.resolved.match, negate, f"{path}(segment {node.segment_id})")
        if isinstance(node, AttributeCondition | FieldCondition):
            negate ^= split_op(node.op)[1]
        if isinstance(node, EventCondition) and not node.did:
            negate = not negate
        if isinstance(node, ScalarCondition):
            return _negated(scalar_predicate(node, self.ctx), negate)
        return self._relation(node, negate)

    def _group(self, node: AllGroup | AnyGroup, negate: bool, path: str) -> Predicate:
        is_all = isinstance(node, AllGroup)
        children = node.all if isinstance(node, AllGroup) else node.any
        key = "all" if is_all else "any"
        parts = [self.predicate(c, negate, f"{path}.{key}[{i}]") for i, c in enumerate(children)]
        conjunction = is_all != negate  # De Morgan: not(all) is any(not), not(any) is all(not)
        if not parts:
            return true() if conjunction else false()
        return and_(*parts) if conjunction else or_(*parts)

    def _relation(self, node: RelationCondition, negate: bool) -> Predicate:
        relation = build_relation(node, self.ctx)
        if self.ctx.mode == "user":
            return _correlated(relation, negate)
        key = _relation_key(node)
        derived = self.joined.get(key)
        if derived is None:
            derived = _derived(relation, f"c{len(self.joined) + 1}")
            self.joined[key] = derived
        # The derived table lists the failing users when the test holds for users without rows.
        if negate != relation.holds_when_empty:
            return derived.c.user_id.is_(None)
        present = derived.c.user_id.is_not(None)
        self.presence.append((present, key))
        return present


def _negated(predicate: Predicate, negate: bool) -> Predicate:
    return predicate.is_not(true()) if negate else predicate


def _relation_key(node: RelationCondition) -> str:
    if isinstance(node, EventCondition):
        node = node.model_copy(update={"did": True})
    return f"{type(node).__name__}:{node.model_dump_json()}"


def _derived(relation: Relation, name: str) -> FromClause:
    rows = (
        select(relation.user_id.label("user_id"))
        .select_from(relation.source)
        .where(*relation.where)
        .group_by(relation.user_id)
    )
    if relation.test is not None:
        assert relation.aggregate is not None
        test = relation.test(relation.aggregate)
        rows = rows.having(not_(test) if relation.holds_when_empty else test)
    return rows.subquery(name)


def _correlated(relation: Relation, negate: bool) -> Predicate:
    rows = (
        select(literal(1) if relation.aggregate is None else relation.aggregate)
        .select_from(relation.source)
        .where(*relation.where, relation.user_id == users.c.id)
        .correlate(users)
    )
    if relation.test is None:
        found = rows.exists()
        return not_(found) if negate else found
    value: ColumnElement[Any] = rows.scalar_subquery()
    if relation.empty_value is not None:
        value = func.coalesce(value, relation.empty_value)
    return _negated(relation.test(value), negate)
