"""Campaigns through providers that misbehave: an SMTP server that drops connections and
answers 4xx and 5xx, push services answering 429 with Retry-After and 5xx.

Whatever the provider does, the ledger keeps one row per user, each ending in a final status
that says what happened; a retried message carries the same idempotency id (email
``Message-ID``, APNs ``apns-id``), waits at least the provider's Retry-After, and is the only
message that can reach the provider twice (when it was cut off after handing the message over).
"""

from __future__ import annotations

import email
import functools
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from email import policy
from typing import Any

import pytest
from sqlalchemy import select

from app.channels import factory
from app.channels.push.apns import ApnsChannel
from app.channels.push.fcm import FcmChannel
from app.channels.push.webpush import WebPushChannel
from app.delivery import channels
from app.kit.ids import uuid7
from app.models import Delivery, Device, EmailSuppression
from tests.campaigns.helpers import T0, Lanes, add_users, deliveries
from tests.campaigns.test_channels import EMAIL_CONTENT, _configure
from tests.campaigns.test_flow import _launch
from tests.channels.email.smtp_server import start_server
from tests.channels.standins.apns import KEY_ID, TEAM, TOPIC, ApnsStandIn
from tests.channels.standins.fcm import FcmStandIn
from tests.channels.standins.http1_server import LocalHttpServer
from tests.channels.standins.http2_server import LocalHttp2Server
from tests.channels.standins.webpush import WebPushStandIn

MAX_ATTEMPTS = 3
POOL = 2


@pytest.fixture(autouse=True)
def _fresh_channels() -> Iterator[None]:
    yield
    channels.close_all()


def _rows(database, ws, ids: dict[str, uuid.UUID]) -> dict[str, Delivery]:
    by_user = {d.user_id: d for d in deliveries(database, ws)}
    assert len(by_user) == len(deliveries(database, ws)) == len(ids)  # one row per user
    return {name: by_user[user_id] for name, user_id in ids.items()}


def _message_id(data: bytes) -> str:
    return str(email.message_from_bytes(data, policy=policy.default)["Message-ID"])


def test_smtp_drops_greylisting_and_bounces(tuned, tenant):
    database = tuned(dispatch_max_attempts=MAX_ATTEMPTS, dispatch_chunk_size=50)
    ws = tenant.workspace_id
    controller, handler = start_server()
    try:
        values = {"host": "127.0.0.1", "port": controller.port, "security": "none", "pool_size": POOL}
        _configure(database, ws, "smtp", {**values, "from_email": "news@acme.test"})
        names = ["cutoff", "greylist", "later", "dropper", "bounce"] + [f"ok{i}" for i in range(20)]
        users = [{"external_id": n, "email": f"{n}@example.com", "first_name": n} for n in names]
        ids = dict(zip(names, add_users(database, ws, users), strict=True))
        _, jobs = _launch(database, ws, channel="email", variants=[{"key": "A", "content": EMAIL_CONTENT}])
        lanes = Lanes(database)
        lanes.emit(jobs)
        lanes.run(T0)

        # After the first pass every failure is already on its row: final ones failed, transient
        # ones back in the queue, later, with the reason.
        first = _rows(database, ws, ids)
        assert {n: first[n].status for n in ("cutoff", "greylist", "later", "dropper")} == dict.fromkeys(
            ("cutoff", "greylist", "later", "dropper"), "queued"
        )
        assert "connection lost during DATA" in first["cutoff"].error
        assert "451" in first["greylist"].error and "451" in first["later"].error
        assert "closing connections" in first["dropper"].error
        assert all(first[n].due_at >= T0 + timedelta(seconds=30) for n in ("cutoff", "greylist"))
        assert first["bounce"].status == "failed" and "550" in first["bounce"].error

        lanes.simulate(T0, T0 + timedelta(minutes=10))
        rows = _rows(database, ws, ids)
    finally:
        controller.stop()

    assert {n: r.status for n, r in rows.items()} == {
        "cutoff": "sent",
        "greylist": "sent",
        "later": "failed",
        "dropper": "failed",
        "bounce": "failed",
        **{f"ok{i}": "sent" for i in range(20)},
    }
    assert "451" in rows["later"].error and "closing connections" in rows["dropper"].error
    assert rows["later"].attempts == rows["dropper"].attempts == MAX_ATTEMPTS
    assert rows["bounce"].attempts == 1  # a hard bounce is never retried
    assert rows["greylist"].attempts == rows["cutoff"].attempts == 2
    with database.transaction(ws) as session:
        suppressed = set(session.scalars(select(EmailSuppression.email)))
    assert suppressed == {"bounce@example.com"}

    # Every accepted message once, with its delivery's id; the one cut off after DATA is the
    # only repeat, and both copies carry the same Message-ID.
    received = Counter(_message_id(m.data) for m in handler.messages)
    sent = {f"<{r.id}@acme.test>" for r in rows.values() if r.status == "sent"}
    assert set(received) == sent and set(received.values()) == {1}
    assert {r.provider_id for r in rows.values() if r.status == "sent"} == sent
    (cut,) = handler.cut
    assert _message_id(cut.data) == f"<{rows['cutoff'].id}@acme.test>"
    # In flight: the pool's connections, and a new one only after each drop.
    drops = 1 + 2 * MAX_ATTEMPTS  # the cut-off DATA; the dropper's connection and its one replacement
    assert handler.connections <= POOL + drops


@pytest.fixture
def push_services(monkeypatch: pytest.MonkeyPatch, local_tls) -> Iterator[tuple[Any, ...]]:
    """FCM, APNs and Web Push stand-ins, put where the channels would find Google and Apple."""
    fcm, apns, webpush = FcmStandIn(retry_after="90"), ApnsStandIn("production"), WebPushStandIn()
    client_tls = local_tls.client_context()
    with (
        LocalHttpServer(fcm) as fcm_server,
        LocalHttp2Server(apns, tls=local_tls.server_context(alpn=["h2"])) as apns_server,
        LocalHttpServer(webpush, tls=local_tls.server_context()) as webpush_server,
    ):
        fcm.origin, webpush.origin = fcm_server.origin, webpush_server.origin
        monkeypatch.setattr(factory, "FcmChannel", functools.partial(FcmChannel, origin=fcm.origin))
        apns_origins = {"production": apns_server.origin}
        monkeypatch.setattr(
            factory,
            "ApnsChannel",
            functools.partial(ApnsChannel, origins=apns_origins, ssl_context=client_tls),
        )
        monkeypatch.setattr(
            factory, "WebPushChannel", functools.partial(WebPushChannel, ssl_context=client_tls)
        )
        yield fcm, apns, webpush, apns_server
        channels.close_all()  # before the servers go


def _device(database, ws, user_id: uuid.UUID, platform: str, token: str, **more: Any) -> None:
    with database.transaction(ws) as session:
        session.add(
            Device(workspace_id=ws, id=uuid7(), user_id=user_id, platform=platform, token=token, **more)
        )


def test_push_services_throttling_and_failing(tuned, tenant, push_services):
    fcm, apns, webpush, apns_server = push_services
    database = tuned(dispatch_max_attempts=MAX_ATTEMPTS)
    ws = tenant.workspace_id
    _configure(database, ws, "fcm", {"service_account": fcm.service_account()})
    _configure(
        database, ws, "apns", {"team_id": TEAM, "key_id": KEY_ID, "private_key": apns.p8(), "topic": TOPIC}
    )
    _configure(database, ws, "webpush", {"subject": "mailto:ops@acme.test"})
    names = [
        "fcm-ok",
        "fcm-busy",
        "fcm-down",
        "fcm-sick",
        "apns-ok",
        "apns-busy",
        "apns-down",
        "wp-ok",
        "wp-busy",
    ]
    ids = dict(zip(names, add_users(database, ws, [{"external_id": n} for n in names]), strict=True))
    for name in ("ok", "busy", "down", "sick"):
        _device(database, ws, ids[f"fcm-{name}"], "fcm", f"{name}-1")
    for name, prefix in (("ok", "abcd"), ("busy", "cafe"), ("down", "5e5e")):
        _device(database, ws, ids[f"apns-{name}"], "apns", prefix * 16, apns_environment="production")
    for name in ("ok", "busy"):
        sub = webpush.subscribe(f"{name}-1")
        _device(
            database,
            ws,
            ids[f"wp-{name}"],
            "webpush",
            sub["token"],
            webpush_p256dh=sub["p256dh"],
            webpush_auth=sub["auth"],
        )
    content = {"title": "Hello {{ user.external_id }}", "body": "New picks"}
    _, jobs = _launch(database, ws, channel="push", variants=[{"key": "A", "content": content}])
    lanes = Lanes(database)
    lanes.emit(jobs)
    lanes.run(T0)

    first = _rows(database, ws, ids)
    flaky = ("fcm-busy", "fcm-down", "fcm-sick", "apns-busy", "apns-down", "wp-busy")
    assert {n: first[n].status for n in flaky} == dict.fromkeys(flaky, "queued")
    assert "429 QUOTA_EXCEEDED" in first["fcm-busy"].error and "503 UNAVAILABLE" in first["fcm-down"].error
    assert "TooManyRequests" in first["apns-busy"].error and "ServiceUnavailable" in first["apns-down"].error
    assert "429" in first["wp-busy"].error
    # FCM asked for 90 s, more than the dispatcher's own 30 s backoff: the provider's wait wins.
    assert first["fcm-busy"].due_at >= T0 + timedelta(seconds=90)
    assert first["apns-busy"].due_at >= T0 + timedelta(seconds=30)

    lanes.simulate(T0, T0 + timedelta(minutes=15))
    rows = _rows(database, ws, ids)
    assert {n: r.status for n, r in rows.items()} == {**dict.fromkeys(names, "sent"), "fcm-sick": "failed"}
    assert "503 UNAVAILABLE" in rows["fcm-sick"].error and rows["fcm-sick"].attempts == MAX_ATTEMPTS
    assert rows["fcm-busy"].sent_at >= T0 + timedelta(seconds=90)
    assert all(rows[n].attempts == 2 for n in flaky if n != "fcm-sick")
    assert all(rows[n].attempts == 1 for n in ("fcm-ok", "apns-ok", "wp-ok"))

    # Each accepted exactly once; a refused request was not a delivery.
    assert Counter(m["token"] for m in fcm.accepted) == {"ok-1": 1, "busy-1": 1, "down-1": 1}
    assert Counter(path for path, _, _ in webpush.delivered) == {"/push/ok-1": 1, "/push/busy-1": 1}
    assert len(apns.accepted) == 3
    # APNs saw every try of a delivery under the same apns-id: the delivery's id.
    tries = Counter(r.headers["apns-id"] for r in apns_server.requests)
    assert tries == {str(rows["apns-ok"].id): 1, str(rows["apns-busy"].id): 2, str(rows["apns-down"].id): 2}
