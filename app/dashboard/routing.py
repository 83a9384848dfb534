"""Every dashboard route goes through ``DashboardRoute``: it checks the CSRF token of each
change before the page runs, turns expected failures into HTML pages (not the API's JSON),
sends a signed-out visitor to the sign-in page, and adds the security headers."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.dashboard import cookies, csrf
from app.dashboard.templating import render
from app.dashboard.viewer import SignInRequired
from app.kit.errors import NudgeError

# Scripts and styles come only from our static folder: an injected tag cannot run.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class DashboardRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            new_cookie = csrf.ensure_cookie(request)
            try:
                if request.method not in csrf.SAFE_METHODS:
                    await csrf.verify(request)
                response = await handler(request)
            except SignInRequired:
                response = sign_in_redirect(request)
            except NudgeError as exc:
                response = render(request, "error.html", status=exc.status, error=exc)
            except RequestValidationError as exc:
                error = NudgeError(f"this address or form is not valid: {exc.errors()[0].get('msg', '')}")
                response = render(request, "error.html", status=422, error=error)
            response.headers.update(SECURITY_HEADERS)
            if new_cookie:
                cookies.set_cookie(request, response, csrf.COOKIE, new_cookie)
            return response

        return handle


def redirect(request: Request, url: str) -> Response:
    """303 to ``url``; for htmx, an ``HX-Redirect`` so the whole page moves."""
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def sign_in_redirect(request: Request) -> Response:
    target = request.url.path if request.method == "GET" else "/dashboard/"
    if request.url.query and request.method == "GET":
        target += "?" + request.url.query
    return redirect(request, "/dashboard/login?next=" + quote(target, safe=""))
