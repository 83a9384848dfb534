"""Routers included behind a path-prefix check.

FastAPI finds a request's route by asking every included router in turn, and each router
asks every one of its routes (a regular expression and some scope bookkeeping apiece): a
path served by the twentieth router paid about half a millisecond of CPU before its
endpoint ran. A route can only match a path that starts with the literal part of its own
path (up to its first parameter), so a router none of whose literal prefixes starts the
path is answered "no match" at once; any other is asked as before, with the same answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.routing import Match
from starlette.types import Scope


def include_indexed(app: FastAPI, router: APIRouter) -> None:
    """``app.include_router(router)``, skipped for paths none of its routes can match."""
    app.include_router(router)
    prefixes = literal_prefixes(router)
    if prefixes is not None:
        entry = app.router.routes[-1]
        entry.matches = _guarded(entry.matches, prefixes)  # type: ignore[method-assign]


def literal_prefixes(router: APIRouter) -> tuple[str, ...] | None:
    """Each route's path up to its first parameter; None when a route has no plain path (a
    nested router, a host), which leaves the router unguarded."""
    prefixes: set[str] = set()
    for route in router.routes:
        path = getattr(route, "path", None)
        if not isinstance(path, str) or not path.startswith("/"):
            return None
        prefixes.add(path.partition("{")[0])
    return tuple(sorted(prefixes))


def _guarded(
    matches: Callable[[Scope], tuple[Match, Scope]], prefixes: tuple[str, ...]
) -> Callable[[Scope], tuple[Match, Scope]]:
    def guarded(scope: Scope) -> tuple[Match, Any]:
        # Under a mount point (``root_path``) routes see a shortened path: ask them as before.
        if not scope.get("root_path") and not scope["path"].startswith(prefixes):
            return Match.NONE, {}
        return matches(scope)

    return guarded
