"""Dynamic content: the list of variables and an editor for each. Every change goes through
app.content.service, exactly as the API does, and is served to apps within a second."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from app.content import experiment_results, service
from app.content.cache import content_cache
from app.content.schemas import VariableKey, VariableUpdate
from app.dashboard import variable_form
from app.dashboard.forms import Form, FormErrors, field_error
from app.dashboard.pages.reports import ALPHA
from app.dashboard.routing import DashboardRoute, redirect
from app.dashboard.templating import render
from app.dashboard.viewer import Page, WorkspacePage, requires
from app.events.schemas import EventName
from app.kit.errors import NotFound, NudgeError
from app.kit.session import DbSession
from app.models import Variable
from app.operators.permissions import Permission

router = APIRouter(prefix="/dashboard/w/{workspace_id}", route_class=DashboardRoute, include_in_schema=False)

Editor = Annotated[WorkspacePage, Depends(requires(Permission.edit_messaging))]
PAGE_SIZE = 500


@router.get("/variables", name="dashboard.variables")
def variables_page(request: Request, session: DbSession, page: Page) -> Response:
    return _index(request, session, variable_form.values_of(None), {})


@router.post("/variables", name="dashboard.variable_create")
def create_variable(request: Request, session: DbSession, page: Editor, form: Form) -> Response:
    try:
        service.create(session, variable_form.new_variable(form))
    except (FormErrors, NudgeError) as exc:
        return _index(request, session, dict(form), _errors(exc), 422)
    content_cache(request.app.state).invalidate_after_commit(session)
    return _saved(request, page)


@router.get("/variables/{key}", name="dashboard.variable")
def variable_page(
    request: Request,
    session: DbSession,
    page: Page,
    key: VariableKey,
    goal: Annotated[EventName | None, Query()] = None,
    window_hours: Annotated[int, Query(ge=1, le=24 * 90)] = 72,
) -> Response:
    """The editor, and for a variable with variants its experiment's results on ``goal``."""
    variable = service.get(session, key)
    results = None
    if variable.variants and goal:
        experiment = variable.experiment or variable.key
        try:
            results = experiment_results.results(
                session, experiment, goal=goal, window_hours=window_hours, alpha=ALPHA
            )
        except NotFound:
            results = None  # archived, and nobody served yet
    return _editor(
        request,
        variable,
        variable_form.values_of(variable),
        {},
        goal=goal,
        window_hours=window_hours,
        results=results,
    )


@router.post("/variables/{key}", name="dashboard.variable_update")
def update_variable(
    request: Request, session: DbSession, page: Editor, key: VariableKey, form: Form
) -> Response:
    variable = service.get(session, key)
    try:
        service.update(session, key, variable_form.changes(form))
    except (FormErrors, NudgeError) as exc:
        return _editor(request, variable, {**dict(form), "key": key}, _errors(exc), 422)
    content_cache(request.app.state).invalidate_after_commit(session)
    return _saved(request, page)


@router.post("/variables/{key}/archive", name="dashboard.variable_archive")
def archive_variable(request: Request, session: DbSession, page: Editor, key: VariableKey) -> Response:
    variable = service.get(session, key)
    service.update(session, key, VariableUpdate(archived=variable.archived_at is None))
    content_cache(request.app.state).invalidate_after_commit(session)
    return _saved(request, page)


def _index(
    request: Request, session: DbSession, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> Response:
    variables, _ = service.list_variables(session, limit=PAGE_SIZE, after=None, archived=True)
    return render(request, "variables/index.html", status, variables=variables, values=values, errors=errors)


def _editor(
    request: Request,
    variable: Variable,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
    **shown: Any,
) -> Response:
    return render(
        request, "variables/edit.html", status, variable=variable, values=values, errors=errors, **shown
    )


def _errors(exc: FormErrors | NudgeError) -> dict[str, str]:
    if isinstance(exc, FormErrors):
        return exc.errors
    errors = field_error(exc).errors
    # ``rules[1].value`` is shown at the rules box; a stale ``version`` above the form.
    shown = {name.split("[")[0].split(".")[0]: message for name, message in errors.items()}
    return {(n if n in variable_form.FIELDS and n != "version" else "form"): m for n, m in shown.items()}


def _saved(request: Request, page: WorkspacePage) -> Response:
    return redirect(request, f"/dashboard/w/{page.workspace.id}/variables?notice=variable-saved")
