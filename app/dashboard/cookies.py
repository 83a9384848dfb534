"""Dashboard cookies: HttpOnly, SameSite=Lax, scoped to /dashboard, Secure behind https."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

PATH = "/dashboard"


def is_https(request: Request) -> bool:
    """The request came over https (as uvicorn sees it, proxy headers included), or the
    deployment says it is served over https."""
    base = str(request.app.state.settings.public_base_url)
    return request.url.scheme == "https" or base.startswith("https://")


def set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int | None = None
) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=PATH, httponly=True, samesite="lax", secure=is_https(request)
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(name, path=PATH, httponly=True, samesite="lax", secure=is_https(request))
