import uuid

import pytest
from sqlalchemy import select

from app.channels.base import OutboundMessage, Outcome, SendResult
from app.channels.feedback import apply_feedback
from app.models import Device, EmailSuppression, Engagement, User
from app.preferences.service import allowed_users
from app.tracking.links import LinkTarget, TrackingLinks


@pytest.fixture
def links(settings):
    return TrackingLinks(settings)


def _user(client, tenant, external_id="u1", **fields):
    """Create a user through the API; returns its internal id."""
    r = client.put(
        f"/v1/users/{external_id}",
        json={"email": f"{external_id}@example.com", **fields},
        headers=tenant.secret_headers,
    )
    assert r.status_code in (200, 201), r.text
    with client.app.state.database.transaction(tenant.workspace_id) as s:
        return s.scalars(select(User.id).where(User.external_id == external_id)).one()


def _engagements(database, workspace_id):
    with database.transaction(workspace_id) as s:
        return [
            (e.kind, e.delivery_id, e.url)
            for e in s.scalars(select(Engagement).order_by(Engagement.occurred_at))
        ]


def _token(url):
    return url.rsplit("/", 1)[1]


@pytest.mark.smoke
def test_open_and_click_are_recorded_and_redirect_only_to_the_signed_url(client, tenant, links, database):
    user_id = _user(client, tenant)
    delivery = uuid.uuid4()
    target = LinkTarget(tenant.workspace_id, user_id, delivery, "email")

    r = client.get(f"/t/o/{_token(links.open_url(target))}")
    assert r.status_code == 200 and r.headers["content-type"] == "image/gif"
    r = client.get(
        f"/t/c/{_token(links.click_url(target, 'https://shop.example.com/a?b=1'))}", follow_redirects=False
    )
    assert r.status_code == 302 and r.headers["location"] == "https://shop.example.com/a?b=1"

    assert _engagements(database, tenant.workspace_id) == [
        ("open", delivery, None),
        ("click", delivery, "https://shop.example.com/a?b=1"),
    ]


def test_tampered_or_foreign_tokens_are_404(client, tenant, links, database):
    user_id = _user(client, tenant)
    target = LinkTarget(tenant.workspace_id, user_id, uuid.uuid4(), "email")
    click = _token(links.click_url(target, "https://shop.example.com/"))
    body, mac = click.split(".")
    forged_body = body[:-2] + ("AA" if body[-2:] != "AA" else "BB")
    for token in (f"{forged_body}.{mac}", f"{body}.{mac[:-1]}x", "garbage", _token(links.open_url(target))):
        r = client.get(f"/t/c/{token}", follow_redirects=False)
        assert r.status_code == 404 and "location" not in r.headers
    assert client.post(f"/t/u/{click}").status_code == 404  # a click token cannot unsubscribe
    assert _engagements(database, tenant.workspace_id) == []


def test_non_http_targets_cannot_be_signed(links):
    target = LinkTarget(uuid.uuid4(), uuid.uuid4(), None, "email")
    for url in ("javascript:alert(1)", "//evil.example.com", "mailto:a@b.c"):
        with pytest.raises(ValueError):
            links.click_url(target, url)


def _allowed(session, user_id, channel, category):
    user = session.scalars(select(User).where(User.id == user_id)).one()
    return allowed_users(session, {user_id: user}, channel, category)


@pytest.mark.smoke
def test_one_click_unsubscribe_by_category_and_by_channel(client, tenant, links, database):
    user_id = _user(client, tenant)
    newsletter = LinkTarget(tenant.workspace_id, user_id, uuid.uuid4(), "email", "newsletter")
    r = client.get(f"/t/u/{_token(links.unsubscribe_url(newsletter))}")
    assert r.status_code == 200 and "Unsubscribe" in r.text  # the page does not unsubscribe by itself
    with database.transaction(tenant.workspace_id) as s:
        assert _allowed(s, user_id, "email", "newsletter") == {user_id}

    r = client.post(
        f"/t/u/{_token(links.unsubscribe_url(newsletter))}", content=b"List-Unsubscribe=One-Click"
    )
    assert r.status_code == 200
    with database.transaction(tenant.workspace_id) as s:
        assert _allowed(s, user_id, "email", "newsletter") == set()
        assert _allowed(s, user_id, "email", "receipts") == {user_id}
        assert s.scalars(select(User.email_status)).one() == "subscribed"

    whole = LinkTarget(tenant.workspace_id, user_id, None, "email")
    client.post(f"/t/u/{_token(links.unsubscribe_url(whole))}", content=b"List-Unsubscribe=One-Click")
    with database.transaction(tenant.workspace_id) as s:
        assert s.scalars(select(User.email_status)).one() == "unsubscribed"
        assert _allowed(s, user_id, "email", None) == set()
        assert _allowed(s, user_id, "push", None) == {user_id}
    assert [k for k, _, _ in _engagements(database, tenant.workspace_id)] == ["unsubscribe", "unsubscribe"]


def test_preference_page_saves_channels_and_categories(client, tenant, links, database):
    user_id = _user(client, tenant)
    r = client.patch(
        "/v1/users/u1/preferences",
        json={"changes": [{"channel": "email", "category": "newsletter", "subscribed": False}]},
        headers=tenant.secret_headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["categories"]["email"]["newsletter"] is False
    page_url = r.json()["preferences_url"]
    path = "/" + page_url.split("/", 3)[3]
    r = client.get(path)
    assert r.status_code == 200 and 'name="category:email:newsletter"' in r.text

    form = "channel:email=on&channel:in_app=on&category:email:newsletter=on&category:push:newsletter=on"
    r = client.post(path, content=form, headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and "Saved." in r.text
    prefs = client.get("/v1/users/u1/preferences", headers=tenant.secret_headers).json()
    assert prefs["channels"] == {"email": True, "push": False, "in_app": True}
    assert prefs["categories"]["email"]["newsletter"] is True
    assert prefs["categories"]["in_app"]["newsletter"] is False
    with database.transaction(tenant.workspace_id) as s:
        assert _allowed(s, user_id, "push", None) == set()


def test_preference_link_of_one_workspace_never_touches_another(
    client, tenant, other_tenant, links, database
):
    _user(client, tenant)
    other_user = _user(client, other_tenant)
    forged = LinkTarget(tenant.workspace_id, other_user, None, "email")  # A's workspace, B's user
    assert (
        client.get(
            "/" + links.preferences_url(forged.workspace_id, forged.user_id).split("/", 3)[3]
        ).status_code
        == 404
    )
    client.post(f"/t/u/{_token(links.unsubscribe_url(forged))}")
    with database.transaction(other_tenant.workspace_id) as s:
        assert s.scalars(select(User.email_status)).one() == "subscribed"


def test_provider_events_and_send_feedback_suppress(client, tenant, database):
    user_id = _user(client, tenant, "u1")
    _user(client, tenant, "u2")
    r = client.post(
        "/v1/email/events",
        json={
            "events": [
                {"type": "complaint", "email": "U2@example.com"},
                {"type": "bounce", "email": "soft@example.com", "hard": False},
            ]
        },
        headers=tenant.secret_headers,
    )
    assert r.status_code == 200 and r.json() == {"suppressed": 1}
    r = client.post(
        "/v1/email/events",
        json={"events": [{"type": "bounce", "email": "nope"}]},
        headers=tenant.secret_headers,
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "events[0].email"

    r = client.post(
        "/v1/users/u1/devices", json={"platform": "fcm", "token": "t" * 20}, headers=tenant.secret_headers
    )
    device_id = r.json()["id"]
    bounce, dead = uuid.uuid4(), uuid.uuid4()
    messages = [
        OutboundMessage(bounce, tenant.workspace_id, user_id, "email", {"email": "u1@example.com"}, {}),
        OutboundMessage(dead, tenant.workspace_id, user_id, "push", {"device_id": device_id}, {}),
    ]
    results = [
        SendResult(
            bounce,
            Outcome.failed,
            error="550",
            feedback={"suppress_email": "u1@example.com", "reason": "bounce"},
        ),
        SendResult(dead, Outcome.failed, error="UNREGISTERED", feedback={"disable_device": device_id}),
    ]
    with database.transaction(tenant.workspace_id) as s:
        apply_feedback(s, messages, results)
    with database.transaction(tenant.workspace_id) as s:
        suppressed = {(e.email, e.reason) for e in s.scalars(select(EmailSuppression))}
        assert suppressed == {("u2@example.com", "complaint"), ("u1@example.com", "bounce")}
        assert {u.external_id: u.email_status for u in s.scalars(select(User))} == {
            "u1": "subscribed",
            "u2": "unsubscribed",
        }
        device = s.scalars(select(Device)).one()
        assert (device.enabled, device.disabled_reason) == (False, "UNREGISTERED")
    from app.tracking.service import suppressed_emails

    with database.transaction(tenant.workspace_id) as s:
        assert suppressed_emails(s, ["U1@example.com", "x@example.com"]) == {"u1@example.com"}
