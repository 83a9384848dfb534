"""Message-history conditions: received, opened or clicked a campaign (or any) within D days,
checked by the set statement and the one-user predicate, and never across workspaces."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.kit.ids import uuid7
from app.models import Delivery, User
from app.segments.compiler import member_predicate, members_select

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
SPRING, SUMMER = uuid.uuid4(), uuid.uuid4()


def _user(session, workspace_id, name):
    user = User(
        workspace_id=workspace_id, external_id=name, first_seen_at=NOW, last_seen_at=NOW, attributes={}
    )
    session.add(user)
    session.flush()
    return user.id


def _delivery(session, workspace_id, user_id, campaign_id, *, sent=None, opened=None, clicked=None):
    session.add(
        Delivery(
            workspace_id=workspace_id,
            id=uuid7(),
            send_id=uuid.uuid4(),
            campaign_id=campaign_id,
            user_id=user_id,
            channel="push",
            status="sent" if sent else "queued",
            due_at=NOW - timedelta(days=60),
            sent_at=sent,
            opened_at=opened,
            clicked_at=clicked,
            created_at=NOW - timedelta(days=60),
        )
    )


@pytest.fixture
def history(database, tenant, other_tenant):
    with database.transaction(tenant.workspace_id) as session:
        ids = {
            name: _user(session, tenant.workspace_id, name)
            for name in ("old", "recent", "opener", "clicker", "queued")
        }
        _delivery(session, tenant.workspace_id, ids["old"], SPRING, sent=NOW - timedelta(days=40))
        _delivery(session, tenant.workspace_id, ids["recent"], SUMMER, sent=NOW - timedelta(days=3))
        _delivery(
            session,
            tenant.workspace_id,
            ids["opener"],
            SUMMER,
            sent=NOW - timedelta(days=7),
            opened=NOW - timedelta(days=7),
        )  # exactly at the 7-day edge
        _delivery(
            session,
            tenant.workspace_id,
            ids["clicker"],
            SPRING,
            sent=NOW - timedelta(days=2),
            opened=NOW - timedelta(days=2),
            clicked=NOW - timedelta(days=1),
        )
        _delivery(session, tenant.workspace_id, ids["queued"], SUMMER)
    with database.transaction(other_tenant.workspace_id) as session:
        stranger = _user(session, other_tenant.workspace_id, "stranger")
        _delivery(
            session,
            other_tenant.workspace_id,
            stranger,
            SUMMER,
            sent=NOW - timedelta(days=1),
            opened=NOW - timedelta(days=1),
            clicked=NOW - timedelta(days=1),
        )
    return tenant.workspace_id


def _members(database, workspace_id, match):
    definition = {"version": 1, "match": match}
    with database.session(workspace_id) as session:
        dialect = session.get_bind().dialect.name
        ids = set(session.scalars(members_select(workspace_id, definition, dialect=dialect, now=NOW)))
        by_set = set(session.scalars(select(User.external_id).where(User.id.in_(ids))))
        predicate = member_predicate(workspace_id, definition, dialect=dialect, now=NOW)
        one_by_one = set(session.scalars(select(User.external_id).where(predicate)))
    assert by_set == one_by_one
    return by_set


@pytest.mark.smoke
@pytest.mark.parametrize(
    ("match", "expected"),
    [
        ({"type": "message"}, {"old", "recent", "opener", "clicker"}),
        ({"type": "message", "last_days": 7}, {"recent", "opener", "clicker"}),
        ({"type": "message", "campaign_id": str(SUMMER)}, {"recent", "opener"}),
        ({"type": "message", "action": "opened", "last_days": 7}, {"opener", "clicker"}),
        ({"type": "message", "action": "opened", "last_days": 6}, {"clicker"}),
        ({"type": "message", "action": "clicked", "campaign_id": str(SPRING)}, {"clicker"}),
        ({"not": {"type": "message", "last_days": 30}}, {"old", "queued"}),
    ],
)
def test_message_history(database, history, match, expected):
    assert _members(database, history, match) == expected


def test_bad_message_conditions_name_the_node(client, tenant):
    bad = {"version": 1, "match": {"all": [{"type": "message", "action": "bounced"}]}}
    r = client.post("/v1/segments/preview", json={"definition": bad}, headers=tenant.secret_headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"].endswith("match.all[0].action")
