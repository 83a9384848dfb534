import asyncio
import email
import uuid
from email import policy

import pytest

from app.channels.base import OutboundMessage, Outcome
from app.channels.email.smtp import SmtpChannel, SmtpConfig
from app.kit.settings import Settings
from app.tracking.links import CLICK, OPEN, UNSUBSCRIBE, TrackingLinks
from tests.channels.email.smtp_server import PASSWORD, USER, start_server

WORKSPACE = uuid.uuid4()
SETTINGS = Settings(
    database_url="sqlite:///:memory:", secret_key="k" * 40, public_base_url="https://nudge.example.com"
)


@pytest.fixture
def smtp_server(local_tls):
    controller, handler = start_server(local_tls.server_context())
    yield controller, handler
    controller.stop()


def _channel(controller, local_tls, **overrides):
    config = SmtpConfig(
        host="127.0.0.1",
        port=controller.port,
        from_email="news@acme.test",
        from_name="Acmé Shop",
        reply_to="help@acme.test",
        security="starttls",
        username=USER,
        password=PASSWORD,
        **overrides,
    )
    return SmtpChannel(config, links=TrackingLinks(SETTINGS), tls_context=local_tls.client_context())


def _message(to="ada@example.com", **content):
    body = {
        "subject": "Grüße, Ada ☕",
        "preheader": "Your weekly picks",
        "html": '<html><body><p>Hi Ada, <a href="https://shop.example.com/p?id=1&amp;x=2">see picks</a>'
        ' or <a href="mailto:help@acme.test">mail us</a></p></body></html>',
        "category": "newsletter",
    }
    body.update(content)
    return OutboundMessage(uuid.uuid4(), WORKSPACE, uuid.uuid4(), "email", {"email": to}, body)


async def _send(channel, messages):
    try:
        return await channel.send(messages)
    finally:
        await channel.aclose()


def test_pooled_starttls_auth_delivery_with_correct_mime(smtp_server, local_tls):
    controller, handler = smtp_server
    messages = [_message(f"user{i}@example.com") for i in range(20)]
    results = asyncio.run(_send(_channel(controller, local_tls, pool_size=3), messages))

    assert [r.outcome for r in results] == [Outcome.sent] * 20
    assert len(handler.messages) == 20 and 1 <= handler.connections <= 3
    assert all(m.tls and m.authenticated for m in handler.messages)

    first = messages[0]
    received = next(m for m in handler.messages if m.rcpt_tos == ["user0@example.com"])
    assert received.mail_from == "news@acme.test"
    parsed = email.message_from_bytes(received.data, policy=policy.default)
    assert parsed["Subject"] == "Grüße, Ada ☕"
    assert parsed["From"].addresses[0].display_name == "Acmé Shop"
    assert parsed["Reply-To"] == "help@acme.test"
    assert parsed["Message-ID"] == f"<{first.delivery_id}@acme.test>" == results[0].provider_id
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parsed.iter_parts())

    links = TrackingLinks(SETTINGS)
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = parsed["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith("https://nudge.example.com/t/u/")
    target = links.verify(UNSUBSCRIBE, unsubscribe.rsplit("/", 1)[1])
    assert (target.delivery_id, target.user_id, target.category) == (
        first.delivery_id,
        first.user_id,
        "newsletter",
    )

    html = parsed.get_body(("html",)).get_content()
    assert "Your weekly picks" in html.split("<p>")[0]  # the preheader leads the body
    assert "mailto:help@acme.test" in html  # only http(s) links are tracked
    click = html.split('href="')[1].split('"')[0]
    assert click.startswith("https://nudge.example.com/t/c/")
    assert links.verify(CLICK, click.rsplit("/", 1)[1]).url == "https://shop.example.com/p?id=1&x=2"
    pixel = html.split('<img src="')[1].split('"')[0]
    assert links.verify(OPEN, pixel.rsplit("/", 1)[1]).delivery_id == first.delivery_id
    text = parsed.get_body(("plain",)).get_content()
    assert "see picks (https://nudge.example.com/t/c/" in text and "<p>" not in text


def test_refusals_map_to_failed_with_suppression_or_retry(smtp_server, local_tls):
    controller, handler = smtp_server
    bounce, later, good = _message("bounce@example.com"), _message("later@example.com"), _message()
    results = asyncio.run(_send(_channel(controller, local_tls, pool_size=1), [bounce, later, good]))
    by_id = {r.delivery_id: r for r in results}

    assert by_id[bounce.delivery_id].outcome is Outcome.failed
    assert by_id[bounce.delivery_id].feedback["suppress_email"] == "bounce@example.com"
    assert "550" in by_id[bounce.delivery_id].error
    assert by_id[later.delivery_id].outcome is Outcome.retry and not by_id[later.delivery_id].feedback
    assert by_id[good.delivery_id].outcome is Outcome.sent
    assert [m.rcpt_tos for m in handler.messages] == [
        ["ada@example.com"]
    ]  # one connection survived both refusals


def test_line_breaks_in_headers_are_refused_before_sending(smtp_server, local_tls):
    controller, handler = smtp_server
    injected = _message(subject="Hi\r\nBcc: victim@example.com")
    bad_address = _message(to="ada@example.com\nBcc: victim@example.com")
    results = asyncio.run(_send(_channel(controller, local_tls), [injected, bad_address]))
    assert [r.outcome for r in results] == [Outcome.failed, Outcome.failed]
    assert handler.messages == []


def test_stale_pooled_connection_is_replaced_without_duplicating(smtp_server, local_tls):
    controller, handler = smtp_server

    async def scenario():
        channel = _channel(controller, local_tls, pool_size=1)
        try:
            first = await channel.send([_message()])
            for smtp in list(channel._idle._queue):  # the server hangs up on the idle connection
                smtp.transport.close()
            await asyncio.sleep(0.05)
            second = await channel.send([_message("second@example.com")])
            return first + second
        finally:
            await channel.aclose()

    results = asyncio.run(scenario())
    assert [r.outcome for r in results] == [Outcome.sent, Outcome.sent]
    assert sorted(m.rcpt_tos[0] for m in handler.messages) == ["ada@example.com", "second@example.com"]


def test_connection_dropped_mid_transaction_is_retry_not_sent(smtp_server, local_tls):
    controller, handler = smtp_server
    results = asyncio.run(_send(_channel(controller, local_tls), [_message("dropper@example.com")]))
    assert results[0].outcome is Outcome.retry and handler.messages == []


def test_unreachable_server_is_retry():
    config = SmtpConfig(host="127.0.0.1", port=1, from_email="news@acme.test", security="none", timeout_s=2)
    channel = SmtpChannel(config, links=None)
    results = asyncio.run(_send(channel, [_message()]))
    assert results[0].outcome is Outcome.retry


def test_implicit_tls(local_tls):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP as SMTPProtocol

    from tests.channels.email.smtp_server import Handler, _free_port

    handler = Handler()
    context = local_tls.server_context()

    class TlsController(Controller):
        def factory(self):
            return SMTPProtocol(self.handler, hostname="localhost")

    controller = TlsController(handler, hostname="127.0.0.1", port=_free_port(), ssl_context=context)
    controller.start()
    try:
        config = SmtpConfig(
            host="127.0.0.1", port=controller.port, from_email="news@acme.test", security="tls"
        )
        channel = SmtpChannel(config, links=None, tls_context=local_tls.client_context())
        results = asyncio.run(_send(channel, [_message(html=None, text="plain only")]))
    finally:
        controller.stop()
    assert results[0].outcome is Outcome.sent
    parsed = email.message_from_bytes(handler.messages[0].data, policy=policy.default)
    assert parsed.get_content_type() == "text/plain" and parsed.get_content().strip() == "plain only"
    assert "List-Unsubscribe" not in parsed
