"""CSRF protection for every change: each form (and htmx, through a header) sends a token
that must equal an HMAC of the browser's session cookie, or of an anonymous cookie before
sign-in. Another site can neither read the token nor forge it, and a token from one session
is worthless in another. The Origin header, when sent, must name this site."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

from app.kit.errors import Forbidden
from app.operators.tokens import digest, new_token, same, sign

COOKIE = "nudge_csrf"
SESSION_COOKIE = "nudge_session"
FIELD = "csrf_token"
HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def ensure_cookie(request: Request) -> str | None:
    """Give a first-time visitor an anonymous CSRF identity; returns it if it is new."""
    existing = request.cookies.get(COOKIE)
    request.state.csrf_cookie = existing or new_token()
    return None if existing else request.state.csrf_cookie


def token_for(request: Request) -> str:
    session_cookie = request.cookies.get(SESSION_COOKIE)
    identity = (
        f"session:{digest(session_cookie)}" if session_cookie else f"anonymous:{request.state.csrf_cookie}"
    )
    return sign(request.app.state.settings.signing_key(), "csrf", identity)


async def verify(request: Request) -> None:
    """Refuse a state-changing request without a valid token, before any work is done."""
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc not in _own_hosts(request):
        raise Forbidden("this form was sent from another site", field="Origin")
    sent = request.headers.get(HEADER)
    if sent is None:
        value = (await request.form()).get(FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not same(sent, token_for(request)):
        raise Forbidden("the form expired or came from another page; reload it and try again", field=FIELD)


def _own_hosts(request: Request) -> set[str]:
    base = urlsplit(str(request.app.state.settings.public_base_url))
    return {request.url.netloc, base.netloc}
