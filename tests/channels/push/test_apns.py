import asyncio
import time
import uuid

import pytest

from app.channels.base import OutboundMessage, Outcome
from app.channels.push.apns import ApnsChannel, ApnsConfig
from tests.channels.standins.apns import KEY_ID, TEAM, TOPIC, ApnsStandIn
from tests.channels.standins.http2_server import LocalHttp2Server


@pytest.fixture
def apns(local_tls):
    production, sandbox = ApnsStandIn("production"), ApnsStandIn("sandbox")
    sandbox.key = production.key  # one .p8 key serves both environments
    tls = local_tls.server_context(alpn=["h2"])
    with (
        LocalHttp2Server(production, tls=tls) as prod_server,
        LocalHttp2Server(sandbox, tls=tls) as sandbox_server,
    ):
        yield production, sandbox, prod_server, sandbox_server


def _channel(apns, local_tls, topic=TOPIC):
    production, _, prod_server, sandbox_server = apns
    config = ApnsConfig(team_id=TEAM, key_id=KEY_ID, private_key=production.p8(), topic=topic)
    origins = {"production": prod_server.origin, "sandbox": sandbox_server.origin}
    return ApnsChannel(config, origins=origins, ssl_context=local_tls.client_context())


def _push(token, environment="production", **content):
    body = {
        "title": "Hi",
        "body": "Back in stock",
        "badge": 1,
        "sound": "default",
        "ttl_s": 600,
        "collapse_key": "stock",
        "data": {"sku": "42"},
        "deep_link": "myapp://p/42",
        **content,
    }
    address = {
        "platform": "apns",
        "token": token,
        "device_id": str(uuid.uuid4()),
        "apns_environment": environment,
    }
    return OutboundMessage(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "push", address, body)


async def _run(channel, *batches):
    try:
        return [await channel.send(batch) for batch in batches]
    finally:
        await channel.aclose()


def test_alerts_go_to_the_devices_environment_over_one_http2_connection_each(apns, local_tls):
    production, sandbox, prod_server, sandbox_server = apns
    messages = [_push("ab" * 32) for _ in range(30)] + [_push("cd" * 32, "sandbox")]
    (results,) = asyncio.run(_run(_channel(apns, local_tls), messages))
    assert [r.outcome for r in results] == [Outcome.sent] * 31
    assert prod_server.connections == 1 and sandbox_server.connections == 1
    assert len(production.accepted) == 30 and len(sandbox.accepted) == 1
    assert {a for a, _, _ in production.accepted} == {str(m.delivery_id) for m in messages[:30]}
    assert results[0].provider_id == str(messages[0].delivery_id)
    _, headers, payload = production.accepted[0]
    assert (
        headers["apns-topic"] == TOPIC
        and headers["apns-push-type"] == "alert"
        and headers["apns-priority"] == "10"
    )
    assert (
        headers["apns-collapse-id"] == "stock" and int(headers["apns-expiration"]) >= int(time.time()) + 590
    )
    assert payload == {
        "aps": {"alert": {"title": "Hi", "body": "Back in stock"}, "badge": 1, "sound": "default"},
        "sku": "42",
        "deep_link": "myapp://p/42",
    }


def test_background_push_when_there_is_nothing_to_show(apns, local_tls):
    production = apns[0]
    (results,) = asyncio.run(
        _run(_channel(apns, local_tls), [_push("ab" * 32, title="", body="", badge=None, sound=None)])
    )
    assert results[0].outcome is Outcome.sent
    _, headers, payload = production.accepted[0]
    assert headers["apns-push-type"] == "background" and headers["apns-priority"] == "5"
    assert payload["aps"] == {"content-available": 1}


def test_dead_tokens_disable_and_throttling_retries_without_duplicates(apns, local_tls):
    production = apns[0]
    bad, gone, throttled, unavailable = (_push(p + "0" * 60) for p in ("bad0", "dead", "cafe", "5e5e"))
    first, second = asyncio.run(
        _run(_channel(apns, local_tls), [bad, gone, throttled, unavailable], [throttled, unavailable])
    )
    by = {r.delivery_id: r for r in first}
    for dead in (bad, gone):
        assert by[dead.delivery_id].outcome is Outcome.failed
        assert by[dead.delivery_id].feedback == {"disable_device": dead.address["device_id"]}
    assert "BadDeviceToken" in by[bad.delivery_id].error and "Unregistered" in by[gone.delivery_id].error
    for later in (throttled, unavailable):
        assert by[later.delivery_id].outcome is Outcome.retry and by[later.delivery_id].retry_after_s == 3.0
    assert [r.outcome for r in second] == [Outcome.sent, Outcome.sent]
    ids = [a for a, _, _ in production.accepted]
    assert sorted(ids) == sorted([str(throttled.delivery_id), str(unavailable.delivery_id)])


def test_wrong_topic_disables_and_expired_provider_token_is_renewed(apns, local_tls):
    production = apns[0]
    (wrong,) = asyncio.run(_run(_channel(apns, local_tls, topic="com.other.app"), [_push("ab" * 32)]))
    assert (
        wrong[0].outcome is Outcome.failed
        and "DeviceTokenNotForTopic" in wrong[0].error
        and wrong[0].feedback
    )

    async def scenario():
        channel = _channel(apns, local_tls)
        try:
            first = await channel.send([_push("ab" * 32)])
            production.expire_provider_tokens()
            return first + await channel.send([_push("ab" * 32)])
        finally:
            await channel.aclose()

    results = asyncio.run(scenario())
    assert [r.outcome for r in results] == [Outcome.sent, Outcome.sent]
    assert len(production.accepted) == 2
    assert production.accepted[1][1]["authorization"].split()[1] not in production.expired


def test_goaway_streams_are_resent_once_and_not_duplicated(apns, local_tls):
    production, _, prod_server, _ = apns
    prod_server.goaway_after = 3
    messages = [_push("ab" * 32) for _ in range(8)]

    async def scenario():
        channel = _channel(apns, local_tls)
        try:
            results = []
            for m in messages:  # one at a time so the GOAWAY lands between streams
                results += await channel.send([m])
            return results
        finally:
            await channel.aclose()

    results = asyncio.run(scenario())
    assert [r.outcome for r in results] == [Outcome.sent] * 8
    ids = [a for a, _, _ in production.accepted]
    assert len(ids) == len(set(ids)) == 8 and prod_server.connections == 2
