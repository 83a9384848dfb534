"""Where password-reset links go. Until an email provider is wired in, the link is written to
the server log (an operator on a self-hosted install reads it there, or runs
``nudge operator reset-link``). Tests and the email channel replace the sender through
``app.state.reset_link_sender``."""

from __future__ import annotations

import logging
from typing import Protocol

from starlette.requests import Request

log = logging.getLogger("nudge.dashboard")


class ResetLinkSender(Protocol):
    def send(self, email: str, link: str) -> None: ...


class LogSender:
    def send(self, email: str, link: str) -> None:
        log.warning("password reset requested for %s: %s", email, link)


def reset_link_sender(request: Request) -> ResetLinkSender:
    return getattr(request.app.state, "reset_link_sender", None) or LogSender()
