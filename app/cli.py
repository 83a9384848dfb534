"""The ``nudge`` command: serve, worker, beat, migrate, workspaces and keys, demo data."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from sqlalchemy.exc import IntegrityError

from app.kit.settings import get_settings
from app.kit.timezones import is_iana_zone

cli = typer.Typer(
    help="Nudge: customer messaging you can host yourself.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
workspace_cli = typer.Typer(help="Workspaces (tenants).", no_args_is_help=True)
key_cli = typer.Typer(help="API keys.", no_args_is_help=True)
operator_cli = typer.Typer(help="Dashboard accounts.", no_args_is_help=True)
cli.add_typer(workspace_cli, name="workspace")
cli.add_typer(key_cli, name="key")
cli.add_typer(operator_cli, name="operator")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="API processes (Postgres with a broker only)")] = 1,
) -> None:
    """Run the API. Without a broker it also runs the worker and scheduler in-process."""
    import os

    import uvicorn

    # Links Nudge prints and sends (dashboard, tracking, unsubscribe) name this server unless
    # the operator set its public address.
    if "NUDGE_PUBLIC_BASE_URL" not in os.environ:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 (compared, not bound)
        address = f"[{shown}]" if ":" in shown else shown
        os.environ["NUDGE_PUBLIC_BASE_URL"] = f"http://{address}:{port}"
    settings = get_settings()
    if workers > 1:
        _share_metrics_between_processes()
    if settings.is_sqlite:
        _embedded_setup()
    elif workers > 1 and settings.in_process_worker:
        raise typer.BadParameter("several API processes need NUDGE_BROKER_URL (one shared worker)")
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
    )


def _share_metrics_between_processes() -> None:
    """Each API process writes its samples to one folder that /metrics aggregates."""
    import os
    import tempfile

    folder = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="nudge-metrics-"))
    os.makedirs(folder, exist_ok=True)


def _serve_worker_metrics(port: int) -> None:
    """/metrics for the worker's own counters on ``port``, summed over its pool processes
    (they are forked later, and write their samples to the shared folder)."""
    _share_metrics_between_processes()  # before anything imports the metrics
    from prometheus_client import start_http_server

    from app.kit.metrics import process_registry

    start_http_server(port, registry=process_registry())


def _embedded_setup() -> None:
    """First start on SQLite: migrate, then make a demo workspace so there is something to see."""
    from sqlalchemy import select

    from app.demo import fill
    from app.kit.db import Database
    from app.kit.migrate import upgrade
    from app.models import Workspace
    from app.workspaces.service import create

    settings = get_settings()
    upgrade(settings.database_url)
    database = Database(settings)
    with database.transaction() as session:
        if session.scalars(select(Workspace.id).limit(1)).first() is not None:
            database.dispose()
            return
        typer.echo("First start: creating a demo workspace (a few seconds)...")
        workspace, keys = create(session, name="Demo")
        counts = fill(session, users_count=1000)
    database.dispose()
    _print_keys(workspace.id, keys)
    typer.echo(f"Demo data: {counts['users']} users, {counts['devices']} devices, {counts['events']} events.")
    typer.echo(
        f"Dashboard: {str(settings.public_base_url).rstrip('/')}/dashboard/ (sign up there; to open the demo "
        f"workspace, run `nudge operator create EMAIL --workspace {workspace.id}`)."
    )


@cli.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Worker processes")] = 2,
    queues: Annotated[str, typer.Option(help="Comma-separated queues")] = "default,dispatch",
) -> None:
    """Run a Celery worker (needs NUDGE_BROKER_URL)."""
    port = get_settings().worker_metrics_port
    if port is not None:
        _serve_worker_metrics(port)
    from app.worker.celery_app import create_celery

    create_celery().worker_main(
        ["worker", "--loglevel=INFO", f"--concurrency={concurrency}", f"--queues={queues}"]
    )


@cli.command()
def beat() -> None:
    """Run the scheduler (exactly one per deployment; needs NUDGE_BROKER_URL)."""
    from app.worker.celery_app import create_celery

    create_celery().start(["beat", "--loglevel=INFO"])


@cli.command()
def migrate(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Bring the database schema up to date."""
    from app.kit.migrate import upgrade

    upgrade(get_settings().database_url, revision)
    typer.echo(f"Database migrated to {revision}.")


@workspace_cli.command("create")
def workspace_create(
    name: str,
    timezone: Annotated[str, typer.Option(help="Default zone for users without one")] = "UTC",
) -> None:
    """Create a workspace and print its keys (shown once)."""
    from app.kit.db import Database
    from app.workspaces.service import create

    if not is_iana_zone(timezone):
        raise typer.BadParameter(f"{timezone!r} is not an IANA time zone", param_hint="--timezone")
    database = Database(get_settings())
    with database.transaction() as session:
        workspace, keys = create(session, name=name, timezone=timezone)
    database.dispose()
    _print_keys(workspace.id, keys)


@key_cli.command("create")
def key_create(
    workspace: Annotated[uuid.UUID, typer.Option(help="Workspace id")],
    kind: Annotated[str, typer.Option(help="secret or publishable")] = "secret",
    name: Annotated[str, typer.Option(help="A label")] = "",
) -> None:
    """Create an API key and print it (shown once)."""
    from app.auth.service import create_key
    from app.kit.db import Database
    from app.kit.errors import NotFound
    from app.models import KeyKind
    from app.workspaces.service import get as get_workspace

    if kind not in KeyKind.__members__:
        raise typer.BadParameter("kind must be 'secret' or 'publishable'", param_hint="--kind")
    database = Database(get_settings())
    try:
        with database.transaction(workspace) as session:
            get_workspace(session, workspace)
            key, plaintext = create_key(session, workspace_id=workspace, kind=KeyKind(kind), name=name)
    except NotFound as exc:
        raise typer.BadParameter(exc.message, param_hint="--workspace") from None
    finally:
        database.dispose()
    typer.echo(f"{kind} key {key.id}: {plaintext}")


@key_cli.command("revoke")
def key_revoke(
    key_id: uuid.UUID,
    workspace: Annotated[uuid.UUID, typer.Option(help="Workspace id")],
) -> None:
    """Revoke an API key at once."""
    from app.auth.service import revoke_key
    from app.kit.db import Database
    from app.kit.errors import NotFound

    database = Database(get_settings())
    try:
        with database.transaction(workspace) as session:
            revoke_key(session, key_id=key_id)
    except NotFound as exc:
        raise typer.BadParameter(exc.message, param_hint="KEY_ID") from None
    finally:
        database.dispose()
    typer.echo(f"Key {key_id} revoked.")


@operator_cli.command("create")
def operator_create(
    email: str,
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="NUDGE_OPERATOR_PASSWORD",
            help="At least 10 characters (prompted when not given)",
        ),
    ],
    name: Annotated[str, typer.Option(help="Display name")] = "",
    workspace: Annotated[
        uuid.UUID | None, typer.Option(help="Join this workspace instead of creating one")
    ] = None,
    workspace_name: Annotated[str, typer.Option(help="Name of the workspace to create")] = "My workspace",
    timezone: Annotated[str, typer.Option(help="Zone of the workspace to create")] = "UTC",
    role: Annotated[str, typer.Option(help="Role in --workspace")] = "owner",
) -> None:
    """Make a dashboard account (the first one on a private install) with a workspace it owns,
    or with a role in an existing workspace."""
    from pydantic import ValidationError

    from app.dashboard.schemas import Account
    from app.kit.db import Database, scope_to_workspace
    from app.kit.errors import NudgeError
    from app.models import Role
    from app.operators import memberships, service

    try:
        Account(email=email, password=password, password_again=password, name=name)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise typer.BadParameter(first["msg"], param_hint=str(first["loc"][0])) from None
    if role not in Role.__members__:
        raise typer.BadParameter(f"role must be one of {', '.join(Role)}", param_hint="--role")
    if workspace is None and not is_iana_zone(timezone):
        raise typer.BadParameter(f"{timezone!r} is not an IANA time zone", param_hint="--timezone")
    database = Database(get_settings())
    try:
        with database.transaction() as session:
            if workspace is None:
                operator, created = service.sign_up(
                    session,
                    email=email,
                    password=password,
                    name=name,
                    workspace_name=workspace_name,
                    timezone=timezone,
                )
                workspace = created.id
            else:
                operator = service.create(session, email=email, password=password, name=name)
                scope_to_workspace(session, workspace)
                memberships.add(session, workspace_id=workspace, operator_id=operator.id, role=Role(role))
    except NudgeError as exc:
        raise typer.BadParameter(exc.message, param_hint=exc.field) from None
    except IntegrityError:
        raise typer.BadParameter(f"no workspace {workspace}", param_hint="--workspace") from None
    finally:
        database.dispose()
    base = str(get_settings().public_base_url).rstrip("/")
    typer.echo(f"Operator {operator.email} can sign in at {base}/dashboard/login (workspace {workspace}).")


@operator_cli.command("reset-link")
def operator_reset_link(email: str) -> None:
    """Print a one-hour, one-use password-reset link (when no email provider is set up)."""
    from app.kit.db import Database
    from app.operators import reset_tokens, service

    settings = get_settings()
    database = Database(settings)
    try:
        with database.transaction() as session:
            operator = service.find_by_email(session, email)
            if operator is None:
                raise typer.BadParameter(f"no operator {email!r}", param_hint="EMAIL")
            token = reset_tokens.make(settings.signing_key(), operator)
    finally:
        database.dispose()
    typer.echo(f"{str(settings.public_base_url).rstrip('/')}/dashboard/reset/{token}")


@cli.command()
def demo(
    users: Annotated[int, typer.Option(help="How many users")] = 3000,
    days: Annotated[int, typer.Option(help="Days of events")] = 30,
    name: Annotated[str, typer.Option(help="Workspace name")] = "Demo",
) -> None:
    """Create a demo workspace: users across 26 zones with devices, attributes and events."""
    from app.demo import fill
    from app.kit.db import Database
    from app.workspaces.service import create

    database = Database(get_settings())
    with database.transaction() as session:
        workspace, keys = create(session, name=name)
        counts = fill(session, users_count=users, days=days)
    database.dispose()
    _print_keys(workspace.id, keys)
    typer.echo(f"Demo data: {counts['users']} users, {counts['devices']} devices, {counts['events']} events.")


def _print_keys(workspace_id: uuid.UUID, keys: dict) -> None:  # type: ignore[type-arg]
    typer.echo(f"Workspace {workspace_id}")
    for kind, plaintext in keys.items():
        typer.echo(f"  {kind} key: {plaintext}")
    typer.echo("Keys are shown once; store them now.")


def main() -> None:
    cli()
