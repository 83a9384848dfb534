"""Campaigns end to end through the real channels: a real SMTP server, the FCM stand-in, the
inbox, a webhook receiver; and what recipients do afterwards reaching the ledger."""

from __future__ import annotations

import email
import functools
import hashlib
import hmac
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from email import policy
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from pydantic import BaseModel, SecretStr
from sqlalchemy import func, select

from app.channels import factory
from app.channels.base import OutboundMessage, Outcome
from app.channels.push.fcm import FcmChannel
from app.credentials.crypto import CredentialBox
from app.credentials.schemas import MODELS
from app.credentials.service import save
from app.delivery import channels
from app.inbox import service as inbox
from app.kit.db import Database
from app.kit.ids import uuid7
from app.models import Delivery, Device, EmailSuppression, Engagement, InboxItem
from app.tracking.service import set_preference, suppress_email
from tests.campaigns.helpers import T0, Lanes, add_users, deliveries, statuses
from tests.campaigns.test_flow import _launch
from tests.channels.email.smtp_server import start_server
from tests.channels.standins.fcm import FcmStandIn
from tests.channels.standins.http1_server import LocalHttpServer


@pytest.fixture(autouse=True)
def _fresh_channels() -> Iterator[None]:
    yield
    channels.close_all()


def _configure(database: Database, workspace_id: uuid.UUID, provider: str, values: dict[str, Any]) -> None:
    with database.transaction(workspace_id) as session:
        save(session, CredentialBox(database.settings), provider, MODELS[provider].model_validate(values))


def _by_user(database: Database, workspace_id: uuid.UUID, ids: dict[str, uuid.UUID]) -> dict[str, Delivery]:
    rows = {d.user_id: d for d in deliveries(database, workspace_id)}
    return {name: rows[user_id] for name, user_id in ids.items()}


EMAIL_CONTENT = {
    "subject": "Hi {{ user.first_name | default('there') }}",
    "html": '<p>Picks for {{ user.first_name }}: <a href="https://shop.example.com/picks">see them</a></p>'
    '<p><a href="{{ preferences_url }}">preferences</a></p>',
    "category": "newsletter",
}


@pytest.fixture
def smtp() -> Iterator[Any]:
    controller, handler = start_server()
    yield controller, handler
    controller.stop()


def test_email_campaign_to_a_real_smtp_server(database, tenant, smtp, client):
    controller, handler = smtp
    ws = tenant.workspace_id
    _configure(
        database,
        ws,
        "smtp",
        {"host": "127.0.0.1", "port": controller.port, "security": "none", "from_email": "news@acme.test"},
    )
    names = ("ada", "bob", "carl", "dan", "eve", "bounce")
    ids = dict(
        zip(
            names,
            add_users(
                database,
                ws,
                [
                    {"external_id": "ada", "email": "ada@example.com", "first_name": "Ada"},
                    {"external_id": "bob", "email": "Bob@example.com"},  # address suppressed
                    {"external_id": "carl", "email": "carl@example.com", "email_status": "unsubscribed"},
                    {"external_id": "dan"},  # no address
                    {"external_id": "eve", "email": "eve@example.com"},  # left the category
                    {"external_id": "bounce", "email": "bounce@example.com"},  # 550 at RCPT
                ],
            ),
            strict=True,
        )
    )
    with database.transaction(ws) as session:
        suppress_email(session, email="bob@example.com", reason="complaint")
        set_preference(session, user_id=ids["eve"], channel="email", category="newsletter", subscribed=False)
    _, jobs = _launch(database, ws, channel="email", variants=[{"key": "A", "content": EMAIL_CONTENT}])
    lanes = Lanes(database)
    lanes.emit(jobs)
    lanes.run(T0)

    rows = _by_user(database, ws, ids)
    assert {name: row.status for name, row in rows.items()} == {
        "ada": "sent",
        "bob": "suppressed:address_suppressed",
        "carl": "suppressed:unsubscribed",
        "dan": "suppressed:no_address",
        "eve": "suppressed:unsubscribed",
        "bounce": "failed",
    }
    assert "550" in (rows["bounce"].error or "")
    with database.transaction(ws) as session:  # the bounce suppressed the address in the same write
        assert session.scalar(
            select(EmailSuppression.reason).where(EmailSuppression.email == "bounce@example.com")
        )
        assert session.scalar(
            select(func.count()).where(
                Engagement.delivery_id == rows["bounce"].id, Engagement.kind == "bounce"
            )
        )

    (received,) = handler.messages
    assert received.rcpt_tos == ["ada@example.com"]
    parsed = email.message_from_bytes(received.data, policy=policy.default)
    delivery_id = str(rows["ada"].id)
    assert parsed["Subject"] == "Hi Ada"
    assert parsed["Message-ID"].startswith(f"<{delivery_id}@")
    assert "/t/u/" in parsed["List-Unsubscribe"]
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = parsed.get_body(("html",)).get_content()
    assert "Picks for Ada" in html and "/preferences/" in html  # links reached the template

    # The open pixel: one unique open on the ledger, every open in the engagements.
    pixel = urlsplit(re.search(r'src="([^"]+/t/o/[^"]+)"', html).group(1)).path
    assert client.get(pixel).status_code == 200
    first = _by_user(database, ws, ids)["ada"].opened_at
    assert first is not None and _by_user(database, ws, ids)["ada"].clicked_at is None
    assert client.get(pixel).status_code == 200
    assert _by_user(database, ws, ids)["ada"].opened_at == first
    click = urlsplit(re.search(r'href="([^"]+/t/c/[^"]+)"', html).group(1)).path
    assert client.get(click, follow_redirects=False).status_code == 302
    assert _by_user(database, ws, ids)["ada"].clicked_at is not None
    with database.transaction(ws) as session:
        kinds = session.execute(
            select(Engagement.kind, func.count())
            .where(Engagement.delivery_id == rows["ada"].id)
            .group_by(Engagement.kind)
        ).all()
    assert dict(kinds) == {"open": 2, "click": 1}


def test_a_channel_without_credentials_fails_its_deliveries(database, tenant):
    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": f"u{i}", "email": f"u{i}@example.com"} for i in range(3)])
    _, jobs = _launch(database, ws, channel="email", variants=[{"key": "A", "content": EMAIL_CONTENT}])
    lanes = Lanes(database)
    lanes.emit(jobs)
    lanes.run(T0)
    rows = deliveries(database, ws)
    assert [r.status for r in rows] == ["failed"] * 3
    assert all("email channel is not configured" in (r.error or "") for r in rows)


def _add_device(
    database: Database, workspace_id: uuid.UUID, user_id: uuid.UUID, token: str, **more: Any
) -> uuid.UUID:
    device_id = uuid7()
    with database.transaction(workspace_id) as session:
        session.add(
            Device(
                workspace_id=workspace_id, id=device_id, user_id=user_id, platform="fcm", token=token, **more
            )
        )
    return device_id


@pytest.fixture
def fcm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FcmStandIn]:
    standin = FcmStandIn()
    with LocalHttpServer(standin) as server:
        standin.origin = server.origin
        # Google's origin is fixed in the channel; the stand-in takes its place.
        monkeypatch.setattr(factory, "FcmChannel", functools.partial(FcmChannel, origin=server.origin))
        yield standin


def test_push_campaign_to_fcm_disables_dead_tokens_and_retries_busy_ones_once(database, tenant, fcm):
    ws = tenant.workspace_id
    _configure(database, ws, "fcm", {"service_account": fcm.service_account()})
    names = ("ok", "dead", "busy", "disabled", "none")
    ids = dict(zip(names, add_users(database, ws, [{"external_id": n} for n in names]), strict=True))
    _add_device(database, ws, ids["ok"], "tok-ok")
    dead = _add_device(database, ws, ids["dead"], "dead-1")
    _add_device(database, ws, ids["busy"], "busy-1")
    _add_device(database, ws, ids["disabled"], "tok-off", enabled=False, disabled_reason="gone")
    content = {"title": "Hello {{ user.external_id }}", "body": "New picks"}
    _, jobs = _launch(database, ws, channel="push", variants=[{"key": "A", "content": content}])
    lanes = Lanes(database)
    lanes.emit(jobs)
    lanes.simulate(T0, T0 + timedelta(minutes=5))  # lanes run when their delays say

    rows = _by_user(database, ws, ids)
    assert {name: row.status for name, row in rows.items()} == {
        "ok": "sent",
        "dead": "failed",
        "busy": "sent",
        "disabled": "suppressed:no_address",
        "none": "suppressed:no_address",
    }
    assert "UNREGISTERED" in (rows["dead"].error or "")
    with database.transaction(ws) as session:
        device = session.get(Device, (ws, dead))
        assert device is not None and device.enabled is False
    # The 429 requeued the same row; the lane came back for it once it was due, no earlier than
    # the provider's Retry-After, and it was accepted exactly once.
    assert [r.requeued for r in lanes.reports if r.requeued] == [1]
    assert rows["busy"].attempts == 2
    assert rows["busy"].sent_at is not None and rows["busy"].sent_at >= T0 + timedelta(seconds=7)
    assert rows["ok"].sent_at == T0
    accepted = [m["token"] for m in fcm.accepted]
    assert sorted(accepted) == ["busy-1", "tok-ok"]  # each once: the 429 was not a delivery
    assert [m["notification"]["title"] for m in fcm.accepted if m["token"] == "tok-ok"] == ["Hello ok"]


def test_in_app_campaign_lands_in_the_inbox_and_a_read_is_an_open(database, tenant):
    ws = tenant.workspace_id
    ids = add_users(database, ws, [{"external_id": f"u{i}", "first_name": f"N{i}"} for i in range(3)])
    _, jobs = _launch(database, ws)
    lanes = Lanes(database)
    lanes.emit(jobs)
    lanes.run(T0)
    assert statuses(database, ws) == {"sent": 3}
    with database.transaction(ws) as session:
        items = {i.user_id: i for i in session.scalars(select(InboxItem))}
    assert {uid: items[uid].content["title"] for uid in ids} == {uid: f"Hi N{i}" for i, uid in enumerate(ids)}
    by_delivery = {d.id: d for d in deliveries(database, ws)}
    assert {i.delivery_id for i in items.values()} == set(by_delivery)

    item = items[ids[0]]
    for _ in range(2):
        with database.transaction(ws) as session:
            inbox.mark_read(session, ids[0], item.id)
    opened = {d.user_id: d.opened_at for d in deliveries(database, ws)}
    assert opened[ids[0]] is not None and opened[ids[1]] is None


def test_webhook_campaign_posts_signed_bodies_to_a_local_server(tuned, tenant):
    database = tuned(webhook_allow_private_targets=True)
    ws = tenant.workspace_id
    secret = "whsec_0123456789abcdef"
    received: list[tuple[str, dict[str, Any]]] = []

    def receiver(request):  # type: ignore[no-untyped-def]
        h = request.headers
        expected = hmac.new(
            secret.encode(), f"{h['x-nudge-timestamp']}.".encode() + request.body, hashlib.sha256
        )
        assert h["x-nudge-signature"] == f"v1={expected.hexdigest()}"
        received.append((h["x-nudge-delivery"], orjson.loads(request.body)))
        return 200, {}, b"{}"

    with LocalHttpServer(receiver) as server:
        _configure(database, ws, "webhook", {"url": f"{server.origin}/hook", "secret": secret})
        add_users(database, ws, [{"external_id": f"u{i}", "attributes": {"plan": "pro"}} for i in range(4)])
        content = {"body": '{"user": "{{ user.external_id }}", "plan": "{{ user.attributes.plan }}"}'}
        _, jobs = _launch(database, ws, channel="webhook", variants=[{"key": "A", "content": content}])
        lanes = Lanes(database)
        lanes.emit(jobs)
        lanes.run(T0)
        channels.close_all()  # before the server goes
    assert statuses(database, ws) == {"sent": 4}
    assert {d for d, _ in received} == {str(d.id) for d in deliveries(database, ws)}
    assert sorted(body["user"] for _, body in received) == [f"u{i}" for i in range(4)]
    assert {body["plan"] for _, body in received} == {"pro"}


def test_changed_credentials_rebuild_the_channel(database, tenant, smtp):
    controller, handler = smtp
    ws = tenant.workspace_id
    smtp_values = {"host": "127.0.0.1", "port": 1, "security": "none", "from_email": "news@acme.test"}
    _configure(database, ws, "smtp", smtp_values)
    add_users(database, ws, [{"external_id": "ada", "email": "ada@example.com"}])
    with database.transaction(ws) as session:
        first = channels.channel_for(session, ws, "email", database)
        assert channels.channel_for(session, ws, "email", database) is first  # cached
    _configure(database, ws, "smtp", {**smtp_values, "port": controller.port})
    with database.transaction(ws) as session:
        assert channels.channel_for(session, ws, "email", database) is not first
    _, jobs = _launch(database, ws, channel="email", variants=[{"key": "A", "content": EMAIL_CONTENT}])
    lanes = Lanes(database)
    lanes.emit(jobs)
    lanes.run(T0)
    assert statuses(database, ws) == {"sent": 1} and len(handler.messages) == 1


def test_unusable_credentials_fail_deliveries_after_bounded_retries(tuned, tenant):
    """Credentials that no longer decrypt (the secret key changed): each attempt keeps the
    reason on the delivery, and the last one fails it; channels without credentials work."""
    ws = tenant.workspace_id
    hook = {"url": "https://hooks.example.com/in", "secret": "whsec_0123456789ab"}
    _configure(tuned(), ws, "webhook", hook)
    rotated = SecretStr("another-secret-key-0123456789-0123456789")
    database = tuned(secret_key=rotated, dispatch_max_attempts=3)
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(3)])
    content = {"body": '{"user": "{{ user.external_id }}"}'}
    _, hook_jobs = _launch(database, ws, channel="webhook", variants=[{"key": "A", "content": content}])
    _, inbox_jobs = _launch(database, ws)
    lanes = Lanes(database)
    lanes.emit(hook_jobs + inbox_jobs)
    lanes.run(T0)
    rows = deliveries(database, ws)
    hooks = [r for r in rows if r.channel == "webhook"]
    assert {(r.status, r.attempts) for r in hooks} == {("queued", 1)}
    assert all("webhook provider cannot be used" in (r.error or "") for r in hooks)
    assert {r.status for r in rows if r.channel == "in_app"} == {"sent"}
    lanes.simulate(T0, T0 + timedelta(minutes=10))
    hooks = [r for r in deliveries(database, ws) if r.channel == "webhook"]
    assert {(r.status, r.attempts) for r in hooks} == {("failed", 3)}
    assert all("cannot be decrypted" in (r.error or "") for r in hooks)


def test_a_provider_that_cannot_be_built_reports_why(database, tenant):
    class Raw(BaseModel):  # stored before validation was as strict as it is now
        service_account: dict[str, Any]

    ws = tenant.workspace_id
    with database.transaction(ws) as session:
        save(session, CredentialBox(database.settings), "fcm", Raw(service_account={"client_email": "x@y"}))
        push = factory.build_channels(session, settings=database.settings, database=database).get("push")
    assert push is not None
    message = OutboundMessage(uuid7(), ws, uuid7(), "push", {"platform": "fcm", "token": "t"}, {"body": "Hi"})
    [result] = channels.run(push.send([message]))
    assert result.outcome == Outcome.retry and "project_id" in (result.error or "")
