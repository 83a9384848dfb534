import asyncio
import hashlib
import hmac
import socket
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


def test_redirects_are_not_followed():
    """A receiver answering 3xx towards an internal address gets a failure, not a second request."""
    receiver = Receiver()
    with LocalHttpServer(receiver) as inside:

        def redirect(request):
            return 307, {"location": f"{inside.origin}/internal"}, b""

        with LocalHttpServer(redirect) as outside:
            (result,) = _send(outside.origin + "/h", [_message()])
            assert len(outside.requests) == 1
    assert result.outcome is Outcome.failed and "webhook 307" in result.error
    assert receiver.received == []


def test_names_resolving_to_any_private_address_are_refused(monkeypatch):
    """What counts is where the name points, not how it looks: one private address among
    public ones is enough to refuse (a resolver can hand either to the connection)."""
    answers = {
        "hooks.acme.test": ["93.184.216.34", "10.0.0.7"],
        "metadata.acme.test": ["169.254.169.254"],
        "v6.acme.test": ["2606:4700::1", "fd00::1"],
        "mapped.acme.test": ["::ffff:127.0.0.1"],
    }

    async def resolve(self, host, port, *args, **kwargs):
        family = {True: socket.AF_INET6, False: socket.AF_INET}
        return [(family[":" in a], socket.SOCK_STREAM, 6, "", (a, port)) for a in answers[host]]

    monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "getaddrinfo", resolve)
    for host in answers:
        (result,) = _send(f"https://{host}/h", [_message()], allow_private=False)
        assert result.outcome is Outcome.failed and "non-public address" in result.error, host
