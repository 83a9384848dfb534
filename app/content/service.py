"""Variables: create, read, change (each change a new version), archive, delete."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.content import values
from app.content.schemas import Rule, VariableIn, VariableUpdate, Variant
from app.kit.db import current_workspace
from app.kit.errors import Conflict, Invalid, NotFound
from app.models import Segment, Variable
from app.models.base import utcnow
from app.segments.references import authored, to_stored
from app.segments.service import prepare


def get(session: Session, key: str) -> Variable:
    variable = session.scalars(select(Variable).where(Variable.key == key)).first()
    if variable is None:
        raise NotFound(f"no variable {key!r}", field="key")
    return variable


def create(session: Session, body: VariableIn) -> Variable:
    rules = _stored_rules(session, body.rules)
    variants = _stored_variants(body.variants)
    values.check_all(body.type, body.default, rules, variants)
    if session.scalars(select(Variable.id).where(Variable.key == body.key)).first() is not None:
        raise Conflict(f"a variable {body.key!r} already exists", field="key")
    variable = Variable(
        workspace_id=current_workspace(session),
        key=body.key,
        type=body.type,
        description=body.description,
        default_value=body.default,
        rules=rules,
        variants=variants,
        experiment=body.experiment,
        version=1,
    )
    session.add(variable)
    _flush(session, body.key)
    return variable


def update(session: Session, key: str, body: VariableUpdate) -> Variable:
    variable = get(session, key)
    sent = body.model_fields_set  # ``default`` may be sent as null (a json variable)
    if body.version is not None and body.version != variable.version:
        raise Conflict(
            f"variable {key!r} is at version {variable.version}, not {body.version}: read it again",
            field="version",
        )
    if body.type is not None:
        variable.type = body.type
    if "description" in sent:
        variable.description = body.description
    if "default" in sent:
        variable.default_value = body.default
    if body.rules is not None:
        variable.rules = _stored_rules(session, body.rules)
    if body.variants is not None:
        variable.variants = _stored_variants(body.variants)
    if "experiment" in sent:
        variable.experiment = body.experiment
    if body.archived is not None:
        variable.archived_at = (variable.archived_at or utcnow()) if body.archived else None
    values.check_all(variable.type, variable.default_value, variable.rules, variable.variants)
    variable.version += 1
    variable.updated_at = utcnow()
    session.flush()
    return variable


def delete(session: Session, key: str) -> None:
    session.delete(get(session, key))
    session.flush()


def list_variables(
    session: Session, *, limit: int, after: str | None, archived: bool
) -> tuple[list[Variable], str | None]:
    statement = select(Variable).order_by(Variable.key).limit(limit + 1)
    if not archived:
        statement = statement.where(Variable.archived_at.is_(None))
    if after:
        statement = statement.where(Variable.key > after)
    found = list(session.scalars(statement))
    next_after = found[limit - 1].key if len(found) > limit else None
    return found[:limit], next_after


def _stored_rules(session: Session, rules: list[Rule]) -> list[dict[str, Any]]:
    """Rules as stored: a saved segment must exist; an inline definition is checked and kept
    as written (references are resolved when the variable set is compiled, so they follow
    changes to the segments they name)."""
    stored: list[dict[str, Any]] = []
    for i, rule in enumerate(rules):
        if rule.segment_id is not None:
            found = session.scalars(select(Segment.id).where(Segment.id == rule.segment_id)).first()
            if found is None:
                field = f"rules[{i}].segment_id"
                raise Invalid(f"{field}: unknown segment {rule.segment_id}", field=field)
            stored.append({"segment_id": str(rule.segment_id), "value": rule.value})
            continue
        try:
            definition = authored(to_stored(prepare(session, rule.definition)))
        except Invalid as exc:
            field = f"rules[{i}].{exc.field or 'definition'}"
            raise Invalid(f"rules[{i}].{exc.message}", field=field, code=exc.code) from None
        stored.append({"definition": definition, "value": rule.value})
    return stored


def _stored_variants(variants: list[Variant]) -> list[dict[str, Any]]:
    keys = [v.key for v in variants]
    if len(set(keys)) != len(keys):
        raise Invalid("variant keys must be unique", field="variants")
    return [{"key": v.key, "weight": v.weight, "value": v.value} for v in variants]


def _flush(session: Session, key: str) -> None:
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"a variable {key!r} already exists", field="key") from None
