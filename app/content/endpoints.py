"""Variables for the app's backend (secret key) and resolved content for one user."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.orm import Session

from app.auth.dependencies import SecretKey
from app.auth.user_signature import signed_user
from app.content import service
from app.content.cache import content_cache
from app.content.experiment_results import results as experiment_results_of
from app.content.exposures import exposure_recorder
from app.content.schemas import (
    ContentOut,
    Experiment,
    VariableIn,
    VariableKey,
    VariableOut,
    VariablePage,
    VariableUpdate,
)
from app.events.schemas import EventName
from app.idempotency.dependencies import Idempotent
from app.kit.errors import Invalid
from app.kit.session import DbSession
from app.kit.unit_of_work import unit_of_work
from app.models import Variable
from app.models.base import utcnow

router = APIRouter(tags=["content"])

KeyPath = Annotated[VariableKey, Path(description="The variable's key")]
MAX_KEYS = 100


def _out(variable: Variable) -> VariableOut:
    return VariableOut(
        key=variable.key,
        type=variable.type,  # type: ignore[arg-type]
        description=variable.description,
        default=variable.default_value,
        rules=variable.rules,
        variants=variable.variants,
        experiment=variable.experiment,
        version=variable.version,
        archived=variable.archived_at is not None,
        created_at=variable.created_at,
        updated_at=variable.updated_at,
    )


@router.post(
    "/v1/variables",
    response_model=VariableOut,
    status_code=201,
    dependencies=[Idempotent],
    summary="Create a variable",
)
def create_variable(body: VariableIn, request: Request, session: DbSession, _auth: SecretKey) -> VariableOut:
    variable = service.create(session, body)
    content_cache(request.app.state).invalidate_after_commit(session)
    return _out(variable)


@router.get("/v1/variables", response_model=VariablePage, summary="List variables by key")
def list_variables(
    session: DbSession,
    _auth: SecretKey,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[VariableKey | None, Query(description="next_cursor of the previous page")] = None,
    archived: Annotated[bool, Query(description="Include archived variables")] = False,
) -> VariablePage:
    found, next_cursor = service.list_variables(session, limit=limit, after=cursor, archived=archived)
    return VariablePage(data=[_out(v) for v in found], next_cursor=next_cursor)


@router.get("/v1/variables/{key}", response_model=VariableOut, summary="Get a variable")
def get_variable(key: KeyPath, session: DbSession, _auth: SecretKey) -> VariableOut:
    return _out(service.get(session, key))


@router.patch(
    "/v1/variables/{key}",
    response_model=VariableOut,
    summary="Change a variable (a new version)",
    description="Send `version` to refuse (409) the change if someone else changed it first. "
    "`archived: true` stops serving it; apps get nothing for its key.",
)
def update_variable(
    key: KeyPath, body: VariableUpdate, request: Request, session: DbSession, _auth: SecretKey
) -> VariableOut:
    variable = service.update(session, key, body)
    content_cache(request.app.state).invalidate_after_commit(session)
    return _out(variable)


@router.delete("/v1/variables/{key}", status_code=204, summary="Delete a variable")
def delete_variable(key: KeyPath, request: Request, session: DbSession, _auth: SecretKey) -> Response:
    service.delete(session, key)
    content_cache(request.app.state).invalidate_after_commit(session)
    return Response(status_code=204)


@router.get(
    "/v1/content",
    response_model=ContentOut,
    summary="The variables' values for one user",
    description="A publishable key with `X-Nudge-User` and `X-Nudge-User-Signature` (as for the "
    "inbox), or a secret key naming any user (`X-Nudge-User` or `?user=`). A user Nudge does not "
    "know yet gets every default and no variant. `?keys=a,b` limits the answer to those keys.",
)
async def get_content(
    request: Request,
    keys: Annotated[str | None, Query(max_length=13_000, description="Comma-separated keys")] = None,
) -> Response:
    wanted = _keys(keys)
    # A hot read: resolved and committed on the event loop's thread, before the answer is built.
    body = await unit_of_work(request).read_and_settle(lambda session: _content(request, session, wanted))
    return Response(body, media_type="application/json", headers={"Cache-Control": "private, no-store"})


@router.get(
    "/v1/content/experiments/{experiment}",
    summary="A content experiment's results",
    description="Per variant: the users first served it (`exposures`), those of them who did the "
    "`goal` event within `window_hours` after (`conversions`), the rate with its 95% interval, and "
    "each variant against the best one (one-sided tests, Bonferroni-corrected; `winner` only once "
    "the best beats every other). The experiment is a variable's `experiment`, or its key.",
)
def experiment_results(
    experiment: Annotated[Experiment, Path(description="The experiment, or the variable's key")],
    session: DbSession,
    _auth: SecretKey,
    goal: Annotated[EventName, Query(description="The event that counts as a conversion")],
    window_hours: Annotated[int, Query(ge=1, le=24 * 90)] = 72,
    alpha: Annotated[float, Query(gt=0, lt=0.5)] = 0.05,
) -> dict[str, Any]:
    return experiment_results_of(session, experiment, goal=goal, window_hours=window_hours, alpha=alpha)


def _content(request: Request, session: Session, keys: list[str] | None) -> bytes:
    user = signed_user(request, session)
    compiled = content_cache(request.app.state).get(session)
    resolved = compiled.resolve(session, user.external_id, keys)
    if resolved.experiments and resolved.user_id is not None:
        exposure_recorder(request.app.state).add(
            compiled.workspace_id, resolved.user_id, resolved.experiments, utcnow()
        )
    out: dict[str, Any] = {"values": resolved.values, "variants": resolved.variants}
    return orjson.dumps(out)


def _keys(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    keys = [k for k in raw.split(",") if k]
    if len(keys) > MAX_KEYS:
        raise Invalid(f"ask for at most {MAX_KEYS} keys at once", field="keys")
    return keys
