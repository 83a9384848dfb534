"""Sign up, sign in and out, password reset. Pages for people who are not signed in yet."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from app.dashboard import cookies
from app.dashboard.csrf import SESSION_COOKIE
from app.dashboard.forms import Form, FormErrors, field_error, parse
from app.dashboard.mail import reset_link_sender
from app.dashboard.routing import DashboardRoute, redirect
from app.dashboard.schemas import Forgot, NewPassword, SignIn, SignUp
from app.dashboard.templating import render
from app.dashboard.viewer import MaybeSignedIn
from app.dashboard.zones import zone_choices
from app.kit.errors import Conflict, NotFound
from app.kit.session import DbSession
from app.operators import reset_tokens, service, sessions, throttle

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)
Next = Annotated[str, Query(max_length=2000)]


def safe_next(target: str) -> str:
    """Only paths inside the dashboard: never an open redirect to another site."""
    if target.startswith("/dashboard/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/dashboard/"


def start_session(request: Request, session: DbSession, operator_id: uuid.UUID, target: str) -> Response:
    token = sessions.open_session(session, operator_id)
    response = redirect(request, safe_next(target))
    cookies.set_cookie(
        request, response, SESSION_COOKIE, token, max_age=int(sessions.LIFETIME.total_seconds())
    )
    return response


def _signup_open(request: Request) -> bool:
    return bool(request.app.state.settings.public_signup)


@router.get("/signup", name="dashboard.signup")
def signup_page(request: Request, viewer: MaybeSignedIn) -> Response:
    if viewer is not None:
        return redirect(request, "/dashboard/")
    if not _signup_open(request):
        raise NotFound("sign-up is closed on this server; ask an administrator for an invitation")
    return render(
        request, "accounts/signup.html", values={"timezone": "UTC"}, errors={}, zones=zone_choices()
    )


@router.post("/signup", name="dashboard.signup_submit")
def signup(request: Request, session: DbSession, form: Form) -> Response:
    if not _signup_open(request):
        raise NotFound("sign-up is closed on this server; ask an administrator for an invitation")
    try:
        data = parse(SignUp, form)
        operator, workspace = service.sign_up(
            session,
            email=data.email,
            password=data.password,
            name=data.name,
            workspace_name=data.workspace_name,
            timezone=data.timezone,
        )
    except Conflict as exc:
        return _signup_errors(request, form, field_error(exc), exc.status)
    except FormErrors as exc:
        return _signup_errors(request, form, exc, 422)
    return start_session(request, session, operator.id, f"/dashboard/w/{workspace.id}/?notice=welcome")


def _signup_errors(request: Request, form: FormData, exc: FormErrors, status: int) -> Response:
    values = {k: v for k, v in form.items() if k in ("email", "name", "workspace_name", "timezone")}
    return render(
        request, "accounts/signup.html", status=status, values=values, errors=exc.errors, zones=zone_choices()
    )


@router.get("/login", name="dashboard.login")
def login_page(request: Request, viewer: MaybeSignedIn, next: Next = "/dashboard/") -> Response:
    if viewer is not None:
        return redirect(request, safe_next(next))
    return _login(request, 200, {}, {}, safe_next(next))


@router.post("/login", name="dashboard.login_submit")
def login(request: Request, session: DbSession, form: Form) -> Response:
    target = safe_next(str(form.get("next") or "/dashboard/"))
    try:
        data = parse(SignIn, form)
    except FormErrors as exc:
        return render(
            request, "accounts/login.html", status=422, values=dict(form), errors=exc.errors, next=target
        )
    address = request.client.host if request.client else "unknown"
    limits = throttle.keys(service.normalise_email(data.email), address)
    database = request.app.state.database
    wait = throttle.retry_after(session, limits)
    if wait is not None:
        errors = {"form": f"Too many failed attempts. Try again in {wait // 60 + 1} minutes."}
        response = _login(request, 429, {"email": data.email}, errors, target)
        response.headers["Retry-After"] = str(wait)
        return response
    operator = service.authenticate(session, data.email, data.password)
    if operator is None:
        # Counted in a transaction of its own: this request's is rolled back with its 401.
        with database.transaction() as counting:
            throttle.record(counting, limits)
        errors = {"form": "That email and password do not match an account."}
        return _login(request, 401, {"email": data.email}, errors, target)
    throttle.clear(session, limits)
    return start_session(request, session, operator.id, target)


def _login(
    request: Request, status: int, values: dict[str, Any], errors: dict[str, str], target: str
) -> Response:
    return render(
        request,
        "accounts/login.html",
        status,
        values=values,
        errors=errors,
        next=target,
        signup_open=_signup_open(request),
    )


@router.post("/logout", name="dashboard.logout")
def logout(request: Request, session: DbSession) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        sessions.close(session, token)
    response = redirect(request, "/dashboard/login?notice=signed-out")
    cookies.clear_cookie(request, response, SESSION_COOKIE)
    return response


@router.get("/forgot", name="dashboard.forgot")
def forgot_page(request: Request) -> Response:
    return render(request, "accounts/forgot.html", values={}, errors={}, sent=False)


@router.post("/forgot", name="dashboard.forgot_submit")
def forgot(request: Request, session: DbSession, form: Form) -> Response:
    try:
        data = parse(Forgot, form)
    except FormErrors as exc:
        return render(
            request, "accounts/forgot.html", status=422, values=dict(form), errors=exc.errors, sent=False
        )
    address = request.client.host if request.client else "unknown"
    limits = throttle.reset_keys(service.normalise_email(data.email), address)
    wait = throttle.retry_after(session, limits)
    if wait is not None:
        errors = {"form": f"Too many reset requests. Try again in {wait // 60 + 1} minutes."}
        response = render(
            request, "accounts/forgot.html", status=429, values=dict(form), errors=errors, sent=False
        )
        response.headers["Retry-After"] = str(wait)
        return response
    throttle.record(session, limits)  # every request counts, whether or not the account exists
    operator = service.find_by_email(session, data.email)
    if operator is not None:
        settings = request.app.state.settings
        token = reset_tokens.make(settings.signing_key(), operator)
        link = str(settings.public_base_url).rstrip("/") + f"/dashboard/reset/{token}"
        reset_link_sender(request).send(operator.email, link)
    # The same answer whether or not the address has an account.
    return render(request, "accounts/forgot.html", values={}, errors={}, sent=True)


@router.get("/reset/{token}", name="dashboard.reset")
def reset_page(request: Request, session: DbSession, token: str) -> Response:
    if reset_tokens.check(request.app.state.settings.signing_key(), session, token) is None:
        raise NotFound("this reset link is invalid, used or expired; ask for a new one")
    return render(request, "accounts/reset.html", errors={}, token=token)


@router.post("/reset/{token}", name="dashboard.reset_submit")
def reset(request: Request, session: DbSession, token: str, form: Form) -> Response:
    operator = reset_tokens.check(request.app.state.settings.signing_key(), session, token)
    if operator is None:
        raise NotFound("this reset link is invalid, used or expired; ask for a new one")
    try:
        data = parse(NewPassword, form)
    except FormErrors as exc:
        return render(request, "accounts/reset.html", status=422, errors=exc.errors, token=token)
    service.set_password(session, operator, data.password)
    return start_session(request, session, operator.id, "/dashboard/?notice=password-changed")
