"""Small functions the dashboard tests share: read a page's CSRF token, sign up, sign in,
make operators directly through the services."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from fastapi.testclient import TestClient
from httpx import Response

from app.kit.db import Database, scope_to_workspace
from app.models import Role
from app.operators import memberships, service

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(client: TestClient, path: str = "/dashboard/login") -> str:
    response = client.get(path)
    match = _CSRF.search(response.text)
    assert match, f"no CSRF token on {path} ({response.status_code})"
    return match.group(1)


def post(
    client: TestClient, path: str, data: dict[str, str] | None = None, *, token_from: str | None = None
) -> Response:
    """POST a form the way the page would: with the CSRF token of the page it is on."""
    token = csrf(client, token_from or path)
    return client.post(path, data={"csrf_token": token, **(data or {})}, follow_redirects=False)


def sign_up(client: TestClient, email: str = "ada@example.com", workspace: str = "Acme") -> uuid.UUID:
    response = post(
        client,
        "/dashboard/signup",
        {
            "email": email,
            "name": "Ada",
            "password": PASSWORD,
            "password_again": PASSWORD,
            "workspace_name": workspace,
            "timezone": "Europe/Berlin",
        },
    )
    assert response.status_code == 303, response.text
    return uuid.UUID(response.headers["location"].split("/")[3])


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> Response:
    return post(client, "/dashboard/login", {"email": email, "password": password})


def make_operator(database: Database, email: str, workspace_id: uuid.UUID, role: Role | str) -> uuid.UUID:
    with database.transaction() as session:
        operator = service.create(session, email=email, password=PASSWORD)
        scope_to_workspace(session, workspace_id)
        memberships.add(session, workspace_id=workspace_id, operator_id=operator.id, role=Role(role))
        return operator.id


def member_browser(browser, database: Database, workspace_id: uuid.UUID, role: Role | str) -> TestClient:  # type: ignore[no-untyped-def]
    """A browser signed in as a new member of ``workspace_id`` with ``role``."""
    email = f"{role}-{uuid.uuid4().hex[:6]}@example.com"
    make_operator(database, email, workspace_id, role)
    client = browser()
    assert sign_in(client, email).status_code == 303
    return client


@dataclass
class RecordingResetSender:
    sent: list[tuple[str, str]] = field(default_factory=list)

    def send(self, email: str, link: str) -> None:
        self.sent.append((email, link))
