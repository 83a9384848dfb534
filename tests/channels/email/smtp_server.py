"""A real SMTP server (aiosmtpd) in this process: STARTTLS, AUTH, and scripted refusals by
recipient local part: ``bounce@`` 550, ``later@`` 451, ``dropper@`` closes the connection at
RCPT; once per address, then accepted: ``greylist@`` 451, ``cutoff@`` reads the whole message
and closes the connection before answering (the client cannot know whether it was queued; the
copy is kept in ``cut``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "nudge", "s3cret"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    authenticated: bool


@dataclass
class Handler:
    messages: list[Received] = field(default_factory=list)
    cut: list[Received] = field(default_factory=list)
    peers: set[tuple[str, int]] = field(default_factory=set)
    seen_once: set[str] = field(default_factory=set)

    @property
    def connections(self) -> int:
        return len(self.peers)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        self.peers.add(session.peer)
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        local = address.partition("@")[0]
        if local == "bounce":
            return "550 5.1.1 <bounce@example.com>: Recipient address rejected: User unknown"
        if local == "later":
            return "451 4.7.1 Greylisted, try again later"
        if local == "dropper":
            server.transport.close()
            return "421 closing"
        if local == "greylist" and self._first_time(address):
            return "451 4.7.1 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def _first_time(self, address: str) -> bool:
        first = address not in self.seen_once
        self.seen_once.add(address)
        return first

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        received = Received(
            envelope.mail_from,
            list(envelope.rcpt_tos),
            envelope.original_content or envelope.content,
            session.ssl is not None,
            bool(session.authenticated),
        )
        cutoff = [a for a in envelope.rcpt_tos if a.startswith("cutoff@")]
        if cutoff and self._first_time(cutoff[0]):
            self.cut.append(received)
            server.transport.close()
            return "421 closing"
        self.messages.append(received)
        return "250 2.0.0 Ok: queued"


def _authenticator(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok)


def start_server(tls_context=None, *, port: int = 0) -> tuple[Controller, Handler]:  # type: ignore[no-untyped-def]
    handler = Handler()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port or _free_port(),
        tls_context=tls_context,
        require_starttls=tls_context is not None,
        authenticator=_authenticator if tls_context is not None else None,
        auth_require_tls=True,
        decode_data=False,
    )
    controller.start()
    return controller, handler


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
