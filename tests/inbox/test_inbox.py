import asyncio
import threading
import time
import uuid

import pytest
from sqlalchemy import select, update

from app.auth.user_signature import user_signature
from app.channels.base import OutboundMessage, Outcome
from app.inbox.channel import InboxChannel
from app.models import Engagement, InboxItem, User

CONTENT = {
    "layout": "banner",
    "title": "Welcome back",
    "body": "Your cart is waiting",
    "buttons": [{"label": "Open cart", "action": "deep_link", "url": "myapp://cart"}, {"label": "Later"}],
    "colours": {"background": "#102030", "text": "#fff"},
    "trigger": "app_open",
}


def _user(client, tenant, external_id):
    client.put(f"/v1/users/{external_id}", json={}, headers=tenant.secret_headers)
    with client.app.state.database.transaction(tenant.workspace_id) as s:
        return s.scalars(select(User.id).where(User.external_id == external_id)).one()


def _headers(settings, tenant, external_id, signature=None):
    return {
        **tenant.publishable_headers,
        "X-Nudge-User": external_id,
        "X-Nudge-User-Signature": signature or user_signature(settings, tenant.workspace_id, external_id),
    }


def _deliver(database, tenant, user_id, content=CONTENT, delivery_id=None, hub=None):
    message = OutboundMessage(
        delivery_id or uuid.uuid4(), tenant.workspace_id, user_id, "in_app", {}, content
    )
    return asyncio.run(InboxChannel(database, hub).send([message]))[0]


@pytest.mark.smoke
def test_inbox_round_trip_with_signed_user(client, tenant, settings, database):
    ada = _user(client, tenant, "ada")
    delivery = uuid.uuid4()
    assert _deliver(database, tenant, ada, delivery_id=delivery).outcome is Outcome.sent
    _deliver(database, tenant, ada, delivery_id=delivery)  # a repeated send stores nothing new

    r = client.get("/v1/inbox", headers=_headers(settings, tenant, "ada"))
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["unread"] == 1 and len(page["data"]) == 1
    item = page["data"][0]
    assert item["trigger"] == "app_open" and item["content"]["layout"] == "banner"
    assert item["content"]["buttons"][1] == {"label": "Later", "action": "dismiss", "url": None}
    assert item["content"]["colours"]["button"] == "#3b5bdb"

    r = client.post(f"/v1/inbox/{item['id']}/read", headers=_headers(settings, tenant, "ada"))
    assert r.status_code == 200 and r.json()["read_at"]
    client.post(f"/v1/inbox/{item['id']}/read", headers=_headers(settings, tenant, "ada"))
    assert client.get("/v1/inbox", headers=_headers(settings, tenant, "ada")).json()["unread"] == 0
    with database.transaction(tenant.workspace_id) as s:
        assert [(e.kind, e.delivery_id) for e in s.scalars(select(Engagement))] == [("open", delivery)]

    assert (
        client.post(f"/v1/inbox/{item['id']}/dismiss", headers=_headers(settings, tenant, "ada")).status_code
        == 204
    )
    assert client.get("/v1/inbox", headers=_headers(settings, tenant, "ada")).json()["data"] == []


def test_one_user_cannot_read_or_touch_anothers_inbox(client, tenant, other_tenant, settings, database):
    ada, _bob = _user(client, tenant, "ada"), _user(client, tenant, "bob")
    _deliver(database, tenant, ada)
    item_id = client.get("/v1/inbox", headers=_headers(settings, tenant, "ada")).json()["data"][0]["id"]

    bobs_signature = user_signature(settings, tenant.workspace_id, "bob")
    assert (
        client.get("/v1/inbox", headers=_headers(settings, tenant, "ada", bobs_signature)).status_code == 403
    )
    assert (
        client.get("/v1/inbox", headers={**tenant.publishable_headers, "X-Nudge-User": "ada"}).status_code
        == 403
    )
    assert (
        client.post(f"/v1/inbox/{item_id}/read", headers=_headers(settings, tenant, "bob")).status_code == 404
    )
    assert (
        client.post(f"/v1/inbox/{item_id}/dismiss", headers=_headers(settings, tenant, "bob")).status_code
        == 404
    )
    _user(client, other_tenant, "ada")
    foreign = _headers(settings, other_tenant, "ada")
    assert client.get("/v1/inbox", headers=foreign).json()["data"] == []
    assert client.post(f"/v1/inbox/{item_id}/read", headers=foreign).status_code == 404

    server_side = {**tenant.secret_headers, "X-Nudge-User": "ada"}
    assert len(client.get("/v1/inbox", headers=server_side).json()["data"]) == 1
    key = client.get("/v1/inbox/signing-key", headers=tenant.secret_headers).json()["key"]
    import hashlib
    import hmac

    assert hmac.new(bytes.fromhex(key), b"ada", hashlib.sha256).hexdigest() == user_signature(
        settings, tenant.workspace_id, "ada"
    )
    assert client.get("/v1/inbox/signing-key", headers=tenant.publishable_headers).status_code == 403


def test_expired_items_are_hidden_and_bad_content_fails(client, tenant, settings, database):
    ada = _user(client, tenant, "ada")
    _deliver(database, tenant, ada, {**CONTENT, "expires_in_s": 60})
    with database.transaction(tenant.workspace_id) as s:
        s.execute(update(InboxItem).values(expires_at=InboxItem.created_at))
    assert client.get("/v1/inbox", headers=_headers(settings, tenant, "ada")).json()["data"] == []
    bad = _deliver(database, tenant, ada, {**CONTENT, "layout": "popover"})
    assert bad.outcome is Outcome.failed and "layout" not in (bad.feedback or {})


def test_stream_delivers_new_items_live(client, tenant, settings, database):
    ada = _user(client, tenant, "ada")
    hub = client.app.state.inbox_hub = __import__("app.inbox.live", fromlist=["Hub"]).Hub()
    signature = user_signature(settings, tenant.workspace_id, "ada")
    url = f"/v1/inbox/stream?key={tenant.publishable}&user=ada&signature={signature}&max_s=4"

    def later():
        time.sleep(0.5)
        _deliver(database, tenant, ada, {**CONTENT, "title": "Live!"}, hub=hub)

    threading.Thread(target=later).start()
    started = time.monotonic()
    with client.stream("GET", url) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                assert '"title":"Live!"' in line
                break
    assert time.monotonic() - started < 3  # woken, not waiting for the end of the stream
