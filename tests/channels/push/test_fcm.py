import asyncio
import uuid

import pytest

from app.channels.base import OutboundMessage, Outcome
from app.channels.push.fcm import FcmChannel
from app.channels.push.google_auth import ServiceAccountTokens
from app.channels.transport.http1 import Http1Pool
from tests.channels.standins.fcm import FcmStandIn
from tests.channels.standins.http1_server import LocalHttpServer


@pytest.fixture
def fcm(local_tls):
    standin = FcmStandIn()
    with LocalHttpServer(standin, tls=local_tls.server_context()) as server:
        standin.origin = server.origin
        yield standin, server


def _channel(fcm, local_tls):
    standin, server = fcm
    account = standin.service_account()
    tokens = ServiceAccountTokens(
        account, pool=Http1Pool(server.origin, ssl_context=local_tls.client_context())
    )
    return FcmChannel(
        account,
        origin=server.origin,
        ssl_context=local_tls.client_context(),
        max_connections=8,
        tokens=tokens,
    )


def _push(token, **content):
    body = {
        "title": "Hi Ada",
        "body": "Your cart misses you",
        "data": {"cart": 3, "vip": True},
        "ttl_s": 3600,
        "collapse_key": "cart",
        "badge": 2,
        "sound": "default",
        "deep_link": "myapp://cart",
        **content,
    }
    return OutboundMessage(
        uuid.uuid4(),
        uuid.uuid4(),
        uuid.uuid4(),
        "push",
        {"platform": "fcm", "token": token, "device_id": str(uuid.uuid4())},
        body,
    )


async def _run(channel, *batches):
    try:
        return [await channel.send(batch) for batch in batches]
    finally:
        await channel.aclose()


def test_sends_with_one_cached_access_token_over_reused_connections(fcm, local_tls):
    standin, server = fcm
    (results,) = asyncio.run(_run(_channel(fcm, local_tls), [_push(f"tok-{i}") for i in range(40)]))
    assert [r.outcome for r in results] == [Outcome.sent] * 40
    assert all(r.provider_id.startswith("projects/nudge-test/messages/") for r in results)
    assert standin.exchanges == 1  # one OAuth exchange for the whole chunk
    assert server.connections <= 8 + 1  # 8 pooled sends + the token endpoint
    message = standin.accepted[0]
    assert message["notification"] == {"title": "Hi Ada", "body": "Your cart misses you"}
    assert message["data"] == {"cart": "3", "vip": "true", "deep_link": "myapp://cart"}
    assert message["android"] == {
        "priority": "high",
        "ttl": "3600s",
        "collapse_key": "cart",
        "notification": {"sound": "default", "notification_count": 2},
    }
    assert message["apns"] == {"payload": {"aps": {"sound": "default", "badge": 2}}}


def test_provider_errors_map_to_outcomes_and_feedback(fcm, local_tls):
    standin, _ = fcm
    dead, bad_token, bad_content, busy, down = (
        _push(t) for t in ("dead-1", "badtoken-1", "badcontent-1", "busy-1", "down-1")
    )
    (results,) = asyncio.run(_run(_channel(fcm, local_tls), [dead, bad_token, bad_content, busy, down]))
    by = {r.delivery_id: r for r in results}

    assert by[dead.delivery_id].outcome is Outcome.failed
    assert by[dead.delivery_id].feedback == {"disable_device": dead.address["device_id"]}
    assert "UNREGISTERED" in by[dead.delivery_id].error
    assert by[bad_token.delivery_id].feedback == {"disable_device": bad_token.address["device_id"]}
    assert (
        by[bad_content.delivery_id].outcome is Outcome.failed and by[bad_content.delivery_id].feedback == {}
    )
    for retried in (busy, down):
        assert by[retried.delivery_id].outcome is Outcome.retry
        assert by[retried.delivery_id].retry_after_s == 7.0
    assert standin.accepted == []


def test_retry_later_sends_exactly_once(fcm, local_tls):
    standin, _ = fcm
    busy = _push("busy-2")
    first, second = asyncio.run(_run(_channel(fcm, local_tls), [busy], [busy]))
    assert (first[0].outcome, second[0].outcome) == (Outcome.retry, Outcome.sent)
    assert [m["token"] for m in standin.accepted] == ["busy-2"]


def test_expired_access_token_is_refreshed_and_the_message_sent_once(fcm, local_tls):
    standin, _ = fcm

    async def scenario():
        channel = _channel(fcm, local_tls)
        try:
            first = await channel.send([_push("tok-a")])
            standin.revoke_tokens()
            return first + await channel.send([_push("tok-b")])
        finally:
            await channel.aclose()

    results = asyncio.run(scenario())
    assert [r.outcome for r in results] == [Outcome.sent, Outcome.sent]
    assert standin.exchanges == 2 and [m["token"] for m in standin.accepted] == ["tok-a", "tok-b"]


def test_unreachable_fcm_is_retry(local_tls):
    standin = FcmStandIn(origin="https://127.0.0.1:1")
    account = standin.service_account()
    channel = FcmChannel(account, origin="https://127.0.0.1:1", tokens=ServiceAccountTokens(account))
    (results,) = asyncio.run(_run(channel, [_push("tok")]))
    assert results[0].outcome is Outcome.retry
