"""The ASGI application: API routers, one error handler, one unit of work per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app.auth.openapi import document_api_keys
from app.content.exposures import ExposureRecorder
from app.delivery import backlog
from app.kit import error_handlers
from app.kit.body_limit import BodyLimitMiddleware
from app.kit.db import Database
from app.kit.errors import ERROR_RESPONSES
from app.kit.jobs import JobSink
from app.kit.logs import configure as configure_logging
from app.kit.request_context import RequestContextMiddleware
from app.kit.routing import include_indexed
from app.kit.runtime import tune_garbage_collector
from app.kit.settings import Settings, get_settings
from app.kit.unit_of_work import UnitOfWorkMiddleware


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    sink: JobSink | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    database = database or Database(settings)
    worker = None
    if sink is None:
        if settings.in_process_worker:
            from app.worker.inprocess import InProcessWorker

            worker = InProcessWorker(database)
            sink = worker
        else:
            from app.worker.celery_app import CelerySink, create_celery

            sink = CelerySink(create_celery(settings))

    exposures = ExposureRecorder(database)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tune_garbage_collector()
        if worker is not None:
            worker.start()
        exposures.start()
        yield
        exposures.stop()
        if worker is not None:
            worker.stop()

    app = FastAPI(
        title="Nudge",
        version="0.1.0",
        description="Customer messaging: users, events, segments and campaigns in each user's time zone.",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.sink = sink
    app.state.worker = worker
    app.state.exposures = exposures
    error_handlers.install(app)
    backlog.register(database)
    # Outermost last: the body limit wraps the unit of work so an oversized body rolls back;
    # the request context wraps everything so every answer is measured and logged.
    app.add_middleware(UnitOfWorkMiddleware, database=database, sink=sink)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    # The browser SDK calls the API from customers' sites. Keys travel in headers, never
    # cookies, so any origin may call; preflights are answered before the unit of work.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "Idempotency-Key",
            "X-Nudge-User",
            "X-Nudge-User-Signature",
        ],
        max_age=600,
    )
    _include_routers(app)
    return app


def _include_routers(app: FastAPI) -> None:
    from app.campaigns.endpoints import router as campaigns
    from app.channels.endpoints import router as test_sends
    from app.compat.endpoints import router as compat
    from app.content.endpoints import router as variables
    from app.credentials.endpoints import router as providers
    from app.dashboard.router import STATIC_FILES
    from app.dashboard.router import router as dashboard
    from app.delivery.endpoints import router as delivery_policy
    from app.devices.endpoints import router as devices
    from app.events.endpoints import router as events
    from app.health.endpoints import router as health
    from app.inbox.endpoints import router as inbox
    from app.journeys.endpoints import router as journeys
    from app.preferences.endpoints import router as preferences
    from app.reports.endpoints import router as reports
    from app.sdk.endpoints import router as sdk
    from app.segments.endpoints import router as segments
    from app.templating.endpoints import router as content
    from app.tracking.endpoints import api as email_events
    from app.tracking.endpoints import router as tracking
    from app.users.endpoints import router as users
    from app.workspaces.endpoints import router as workspaces

    routers = (
        health,
        workspaces,
        users,
        devices,
        events,
        compat,
        content,
        tracking,
        email_events,
        preferences,
        providers,
        inbox,
        sdk,
        test_sends,
        campaigns,
        journeys,
        delivery_policy,
        segments,
        reports,
        variables,
    )
    for router in routers:
        include_indexed(app, router)
    document_api_keys(app, routers)
    path, static_app, name = STATIC_FILES
    app.mount(path, static_app, name=name)
    app.include_router(dashboard)  # last: it ends with a catch-all for unknown dashboard pages
