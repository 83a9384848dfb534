import asyncio
import uuid

import pytest

from app.channels.base import OutboundMessage, Outcome
from app.channels.push.webpush import WebPushChannel, WebPushConfig
from app.channels.push.webpush_crypto import VapidKey
from tests.channels.standins.http1_server import LocalHttpServer
from tests.channels.standins.webpush import WebPushStandIn


@pytest.fixture
def service(local_tls):
    standin = WebPushStandIn()
    with LocalHttpServer(standin, tls=local_tls.server_context()) as server:
        standin.origin = server.origin
        yield standin


def _channel(local_tls, key=None):
    key = key or VapidKey.generate()
    config = WebPushConfig(vapid_private_key=key.private_pem(), subject="mailto:ops@acme.test")
    return WebPushChannel(config, ssl_context=local_tls.client_context())


def _push(subscription, **content):
    body = {
        "title": "Flash sale",
        "body": "½ price today",
        "image": "https://cdn.acme.test/sale.png",
        "deep_link": "https://acme.test/sale",
        "data": {"campaign": 7},
        "ttl_s": 120,
        "collapse_key": "sale:today",
        **content,
    }
    address = {"platform": "webpush", "device_id": str(uuid.uuid4()), **subscription}
    return OutboundMessage(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "push", address, body)


async def _run(channel, *batches):
    try:
        return [await channel.send(batch) for batch in batches]
    finally:
        await channel.aclose()


def test_payload_is_encrypted_for_the_subscription_and_vapid_signed(service, local_tls):
    messages = [_push(service.subscribe(f"sub-{i}")) for i in range(5)]
    (results,) = asyncio.run(_run(_channel(local_tls), messages))
    assert [r.outcome for r in results] == [Outcome.sent] * 5
    assert results[0].provider_id.startswith(service.origin + "/message/")
    _, headers, payload = next(d for d in service.delivered if d[0] == "/push/sub-0")
    assert payload == {
        "title": "Flash sale",
        "body": "½ price today",
        "image": "https://cdn.acme.test/sale.png",
        "url": "https://acme.test/sale",
        "tag": "sale:today",
        "data": {"campaign": "7"},
    }
    assert headers["ttl"] == "120" and headers["urgency"] == "high" and headers["topic"] == "saletoday"
    assert headers["content-type"] == "application/octet-stream"


def test_raw_base64url_vapid_keys_are_accepted(service, local_tls):
    key = VapidKey.generate()
    raw = VapidKey.from_text(
        __import__("base64")
        .urlsafe_b64encode(key.private_key.private_numbers().private_value.to_bytes(32, "big"))
        .rstrip(b"=")
        .decode()
    )
    assert raw.public_key_b64 == key.public_key_b64
    (results,) = asyncio.run(_run(_channel(local_tls, raw), [_push(service.subscribe("raw"))]))
    assert results[0].outcome is Outcome.sent


def test_gone_subscriptions_are_removed_and_throttling_retried_once(service, local_tls):
    gone, missing, busy = (_push(service.subscribe(n)) for n in ("gone-1", "missing-1", "busy-1"))
    first, second = asyncio.run(_run(_channel(local_tls), [gone, missing, busy], [busy]))
    by = {r.delivery_id: r for r in first}
    for dead in (gone, missing):
        assert by[dead.delivery_id].outcome is Outcome.failed
        assert by[dead.delivery_id].feedback == {"remove_device": dead.address["device_id"]}
    assert by[busy.delivery_id].outcome is Outcome.retry and by[busy.delivery_id].retry_after_s == 5.0
    assert second[0].outcome is Outcome.sent
    assert [p for p, _, _ in service.delivered] == ["/push/busy-1"]


def test_bad_subscription_keys_fail_without_a_request(service, local_tls):
    broken = _push({"token": service.origin + "/push/x", "p256dh": "AAAA", "auth": "BBBB"})
    plain_http = _push({"token": "http://127.0.0.1:9/push/x", "p256dh": "AAAA", "auth": "BBBB"})
    (results,) = asyncio.run(_run(_channel(local_tls), [broken, plain_http]))
    assert [r.outcome for r in results] == [Outcome.failed, Outcome.failed]
    assert service.delivered == []
