import asyncio
import hashlib
import hmac
import time
import uuid

import orjson

from app.channels.base import OutboundMessage, Outcome
from app.channels.webhook import WebhookChannel, WebhookConfig
from tests.channels.standins.http1_server import LocalHttpServer

SECRET = "whsec_test"


class Receiver:
    """Verifies the signature like a customer's endpoint would; answers from a script."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.received = []

    def __call__(self, request):
        h = request.headers
        expected = hmac.new(
            SECRET.encode(), f"{h['x-nudge-timestamp']}.".encode() + request.body, hashlib.sha256
        ).hexdigest()
        assert h["x-nudge-signature"] == f"v1={expected}"
        assert abs(int(h["x-nudge-timestamp"]) - time.time()) < 60
        assert h["content-type"] == "application/json"
        self.received.append((h["x-nudge-delivery"], orjson.loads(request.body)))
        answer = self.answers.pop(0) if self.answers else 200
        if answer == "slow":
            time.sleep(0.6)
            return 200, {}, b"late"
        return answer, {}, b"{}"


def _message(**content):
    return OutboundMessage(
        uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "webhook", {}, content or {"body": '{"user": "u1", "n": 2}'}
    )


def _send(url, messages, *, allow_private=True, attempts=3, timeout_s=5.0):
    config = WebhookConfig(url=url, secret=SECRET, attempts=attempts, backoff_s=0.01, timeout_s=timeout_s)
    channel = WebhookChannel(config, allow_private=allow_private)

    async def run():
        try:
            return await channel.send(messages)
        finally:
            await channel.aclose()

    return asyncio.run(run())


def test_signed_json_post():
    receiver = Receiver()
    with LocalHttpServer(receiver) as server:
        m1, m2 = _message(), _message(json={"event": "purchase", "value": 9.5})
        results = _send(server.origin + "/hooks/nudge?src=1", [m1, m2])
    assert [r.outcome for r in results] == [Outcome.sent, Outcome.sent]
    assert sorted(receiver.received, key=lambda r: r[0] != str(m1.delivery_id)) == [
        (str(m1.delivery_id), {"user": "u1", "n": 2}),
        (str(m2.delivery_id), {"event": "purchase", "value": 9.5}),
    ]
    assert server.requests[0].path == "/hooks/nudge?src=1"


def test_5xx_and_timeouts_are_retried_with_the_same_delivery_id_then_4xx_is_final():
    receiver = Receiver(503, "slow", 200)
    with LocalHttpServer(receiver) as server:
        message = _message()
        (result,) = _send(server.origin + "/h", [message], timeout_s=0.3)
    assert result.outcome is Outcome.sent
    assert [d for d, _ in receiver.received] == [str(message.delivery_id)] * 3

    receiver = Receiver(422, 200)
    with LocalHttpServer(receiver) as server:
        (result,) = _send(server.origin + "/h", [_message()])
    assert result.outcome is Outcome.failed and "422" in result.error and len(receiver.received) == 1


def test_retries_are_bounded():
    receiver = Receiver(500, 500, 500, 500)
    with LocalHttpServer(receiver) as server:
        (result,) = _send(server.origin + "/h", [_message()], attempts=3)
    assert result.outcome is Outcome.retry and len(receiver.received) == 3


def test_body_that_is_not_json_fails_without_a_request():
    receiver = Receiver()
    with LocalHttpServer(receiver) as server:
        (result,) = _send(server.origin + "/h", [_message(body="{not json")])
    assert result.outcome is Outcome.failed and receiver.received == []


def test_private_and_loopback_targets_are_refused_by_default():
    receiver = Receiver()
    with LocalHttpServer(receiver) as server:
        for url in (
            server.origin + "/h",
            f"http://localhost:{server.port}/h",
            "http://10.1.2.3/h",
            "http://[::1]/h",
            "http://169.254.169.254/latest",
            "ftp://example.com/x",
        ):
            (result,) = _send(url, [_message()], allow_private=False)
            assert result.outcome is Outcome.failed and "refused" in result.error, url
    assert receiver.received == []
