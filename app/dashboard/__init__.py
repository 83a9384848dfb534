"""The marketer dashboard: server-rendered pages over the same services as the API.

How a page is built (segments, campaigns and reports follow the same recipe):

- A module in ``pages/`` with ``router = APIRouter(prefix="/dashboard/w/{workspace_id}",
  route_class=DashboardRoute, include_in_schema=False)``, added to the tuple in ``router.py``.
  ``DashboardRoute`` checks the CSRF token of every non-GET request before the page runs and
  renders expected errors as HTML.
- Sync handlers take ``session: DbSession`` and one of the workspace dependencies from
  ``viewer.py``: ``Page`` (any member) or ``requires(Permission.x)`` for an action a role may
  lack. Resolving it scopes the session to the workspace (ORM filter and RLS), so services are
  called exactly as from the API. Forms come in as ``form: Form`` and are validated with
  ``forms.parse(Model, form)``; field errors re-render the page with 422.
- ``render(request, "area/page.html", status, **context)`` renders a template that extends
  ``layouts/app.html`` and sets ``active`` to its navigation route; ``navigation.py`` lists
  the sidebar entries and ``panels.py`` the sections other features add to a user profile.
- Interactive parts (live counts, previews) use htmx against a route that returns a partial
  template when ``HX-Request`` is set; page scripts live in ``static/`` (the CSP forbids
  inline script), vendored libraries in ``static/vendor/``.
"""
