from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from app.kit.db import scope_to_workspace
from app.main import create_app
from app.models import ApiKey, LoginThrottle, Membership, Operator, OperatorSession, Workspace
from app.models.base import utcnow
from app.operators.tasks import purge_expired
from app.worker.registry import TaskContext
from tests.dashboard.helpers import PASSWORD, csrf, post, sign_in, sign_up


def _count(database, model) -> int:  # type: ignore[no-untyped-def]
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.smoke
def test_sign_up_makes_an_operator_owning_a_new_empty_workspace(browser, database):
    client = browser()
    workspace_id = sign_up(client, email="Ada@Example.com", workspace="Acme Shoes")

    page = client.get(f"/dashboard/w/{workspace_id}/")
    assert page.status_code == 200
    assert "Acme Shoes" in page.text
    with database.transaction() as session:
        operator = session.scalars(select(Operator)).one()
        assert operator.email == "ada@example.com"
        assert operator.password_hash.startswith("$argon2id$") and PASSWORD not in operator.password_hash
        scope_to_workspace(session, workspace_id)  # memberships are behind row-level security
        membership = session.scalars(select(Membership)).one()
        assert (membership.workspace_id, membership.operator_id, membership.role) == (
            workspace_id,
            operator.id,
            "owner",
        )
        assert session.get(Workspace, workspace_id).timezone == "Europe/Berlin"
        assert session.scalars(select(ApiKey)).all() == []  # keys are made on the keys page


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"password": "short", "password_again": "short"}, "password", "at least 10 characters"),
        ({"password_again": "something else entirely"}, "password_again", "the two passwords differ"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "is not an IANA time zone"),
        ({"email": "not-an-email"}, "email", "is not an email address"),
        ({"workspace_name": ""}, "workspace_name", "Required"),
    ],
)
def test_sign_up_refuses_bad_input_naming_the_field_and_writes_nothing(
    browser, database, change, field, message
):
    form = {
        "email": "ada@example.com",
        "password": PASSWORD,
        "password_again": PASSWORD,
        "workspace_name": "Acme",
        "timezone": "UTC",
        **change,
    }
    response = post(browser(), "/dashboard/signup", form)
    assert response.status_code == 422
    assert f'id="f-{field}-error"' in response.text
    assert message in response.text
    assert f'id="f-{field}" name="{field}"' in response.text and 'aria-invalid="true"' in response.text
    assert _count(database, Operator) == 0
    assert _count(database, Workspace) == 0


def test_sign_up_with_a_taken_email_is_a_conflict(browser, database):
    sign_up(browser(), email="ada@example.com")
    response = post(
        browser(),
        "/dashboard/signup",
        {
            "email": "ADA@example.com",
            "password": PASSWORD,
            "password_again": PASSWORD,
            "workspace_name": "Second",
        },
    )
    assert response.status_code == 409
    assert "already exists" in response.text
    assert _count(database, Operator) == 1
    assert _count(database, Workspace) == 1


def test_sign_up_can_be_closed(settings, database, sink):
    app = create_app(settings.model_copy(update={"public_signup": False}), database=database, sink=sink)
    with TestClient(app) as client:
        assert client.get("/dashboard/signup").status_code == 404
        assert "Create an account" not in client.get("/dashboard/login").text
        token = csrf(client, "/dashboard/login")
        response = client.post(
            "/dashboard/signup",
            data={
                "csrf_token": token,
                "email": "ada@example.com",
                "password": PASSWORD,
                "password_again": PASSWORD,
                "workspace_name": "Acme",
            },
        )
    assert response.status_code == 404
    assert _count(database, Operator) == 0


@pytest.mark.smoke
def test_sign_in_and_out(browser, database):
    workspace_id = sign_up(browser(), email="ada@example.com")
    client = browser()
    overview = f"/dashboard/w/{workspace_id}/"

    signed_out = client.get(overview, follow_redirects=False)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/dashboard/login?next=" + overview.replace("/", "%2F")

    wrong = sign_in(client, "ada@example.com", "not the password")
    assert wrong.status_code == 401
    assert "do not match" in wrong.text
    assert "nudge_session" not in wrong.headers.get("set-cookie", "")

    right = post(
        client, "/dashboard/login", {"email": "ada@example.com", "password": PASSWORD, "next": overview}
    )
    assert right.status_code == 303 and right.headers["location"] == overview
    assert client.get(overview).status_code == 200

    token = client.cookies.get("nudge_session")
    out = post(client, "/dashboard/logout", token_from=overview)
    assert out.status_code == 303
    assert client.get(overview, follow_redirects=False).status_code == 303
    # The server forgot the session: replaying the old cookie does not sign anyone in.
    replay = browser()
    replay.cookies.set("nudge_session", token, path="/dashboard")
    assert replay.get(overview, follow_redirects=False).status_code == 303
    assert _count(database, OperatorSession) == 1  # only the sign-up browser's


def test_sign_in_only_redirects_inside_the_dashboard(browser):
    sign_up(browser())
    client = browser()
    for target in ("https://evil.example/", "//evil.example/x", "/v1/keys", "/dashboard/\\evil"):
        response = post(
            client, "/dashboard/login", {"email": "ada@example.com", "password": PASSWORD, "next": target}
        )
        assert response.headers["location"] == "/dashboard/", target


def test_sign_in_is_rate_limited_per_account_and_address(browser):
    sign_up(browser(), email="ada@example.com")
    sign_up(browser(), email="grace@example.com", workspace="Other")
    client = browser()
    for _ in range(5):
        assert sign_in(client, "ada@example.com", "wrong password!").status_code == 401
    blocked = sign_in(client, "ada@example.com")  # even the right password waits now
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["retry-after"]) <= 15 * 60
    assert "Too many failed attempts" in blocked.text
    assert sign_in(client, "grace@example.com").status_code == 303  # another account is not locked


def test_a_successful_sign_in_forgives_earlier_failures(browser):
    sign_up(browser(), email="ada@example.com")
    client = browser()
    for _ in range(4):
        sign_in(client, "ada@example.com", "wrong password!")
    assert sign_in(client, "ada@example.com").status_code == 303
    other = browser()
    for _ in range(4):
        assert sign_in(other, "ada@example.com", "wrong password!").status_code == 401
    assert sign_in(other, "ada@example.com").status_code == 303


def test_password_reset_by_token_works_once_and_signs_out_elsewhere(browser, reset_links):
    workspace_id = sign_up(elsewhere := browser(), email="ada@example.com")
    client = browser()

    assert post(client, "/dashboard/forgot", {"email": "nobody@example.com"}).status_code == 200
    answer = post(client, "/dashboard/forgot", {"email": "ADA@example.com"})
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert [email for email, _ in reset_links.sent] == ["ada@example.com"]
    path = urlsplit(reset_links.sent[0][1]).path

    mismatch = post(client, path, {"password": "a brand new secret", "password_again": "different"})
    assert mismatch.status_code == 422
    changed = post(client, path, {"password": "a brand new secret", "password_again": "a brand new secret"})
    assert changed.status_code == 303
    assert client.get(f"/dashboard/w/{workspace_id}/").status_code == 200

    assert client.get(path).status_code == 404  # used: the password hash it signed changed
    assert elsewhere.get(f"/dashboard/w/{workspace_id}/", follow_redirects=False).status_code == 303
    assert sign_in(browser(), "ada@example.com").status_code == 401
    assert sign_in(browser(), "ada@example.com", "a brand new secret").status_code == 303


def test_forged_reset_tokens_are_refused(browser, reset_links):
    sign_up(browser(), email="ada@example.com")
    client = browser()
    post(client, "/dashboard/forgot", {"email": "ada@example.com"})
    path = urlsplit(reset_links.sent[0][1]).path
    payload, signature = path.rsplit("/", 1)[1].split(".")
    for token in (f"{payload}.{'0' * len(signature)}", f"AAAA{payload[4:]}.{signature}", "garbage", "a.b.c"):
        assert client.get(f"/dashboard/reset/{token}").status_code == 404, token


def test_reset_requests_are_limited_per_email(browser, reset_links):
    sign_up(browser(), email="ada@example.com")
    client = browser()
    for _ in range(3):
        assert post(client, "/dashboard/forgot", {"email": "ada@example.com"}).status_code == 200
    blocked = post(client, "/dashboard/forgot", {"email": "ADA@example.com"})
    assert blocked.status_code == 429 and "Too many reset requests" in blocked.text
    assert int(blocked.headers["Retry-After"]) > 0
    assert len(reset_links.sent) == 3  # the fourth sent nothing
    # Another address is a separate count; an unknown one is counted the same way.
    assert post(client, "/dashboard/forgot", {"email": "grace@example.com"}).status_code == 200


def test_expired_sessions_and_lapsed_limits_are_purged(browser, database, sink):
    sign_up(old := browser(), email="ada@example.com")
    sign_up(fresh := browser(), email="grace@example.com")
    sign_in(browser(), "ada@example.com", "wrong password!")  # a count in the current window
    ada = select(Operator.id).where(Operator.email == "ada@example.com").scalar_subquery()
    with database.transaction() as session:
        session.execute(
            update(OperatorSession)
            .where(OperatorSession.operator_id == ada)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        session.add(LoginThrottle(key="lapsed", failures=9, window_started_at=utcnow() - timedelta(hours=1)))

    assert purge_expired(TaskContext(database=database, sink=sink)) == {"sessions": 1, "throttles": 1}
    assert _count(database, OperatorSession) == 1 and _count(database, LoginThrottle) == 2
    assert old.get("/dashboard/", follow_redirects=False).headers["location"].startswith("/dashboard/login")
    assert fresh.get("/dashboard/", follow_redirects=False).headers["location"].startswith("/dashboard/w/")
