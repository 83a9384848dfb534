"""One rendered email as MIME bytes: UTF-8 headers, text and HTML alternatives, a Message-ID
made from the delivery id (so a repeat can be recognised), and RFC 8058 one-click
unsubscribe. Header values with CR or LF are refused, never folded into new headers."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any

from app.channels.base import OutboundMessage
from app.channels.email.html import add_pixel, add_preheader, html_to_text, rewrite_links
from app.channels.email.mime import assemble, encoded_words, mailbox, text_part
from app.models.base import utcnow
from app.tracking.links import LinkTarget, TrackingLinks, is_trackable_url


class BadMessage(ValueError):
    """The message cannot be built (a header with a line break, no recipient...): final."""


@dataclass(frozen=True)
class Sender:
    from_email: str
    from_name: str = ""
    reply_to: str | None = None

    @property
    def domain(self) -> str:
        return self.from_email.rpartition("@")[2] or "localhost"


@dataclass(frozen=True)
class BuiltEmail:
    message_id: str
    recipient: str
    data: bytes


def _clean(value: Any, field: str) -> str:
    text = "" if value is None else str(value)
    if "\r" in text or "\n" in text:
        raise BadMessage(f"{field} contains a line break")
    return text


def build_email(message: OutboundMessage, sender: Sender, links: TrackingLinks | None) -> BuiltEmail:
    content = message.content
    recipient = _clean(message.address.get("email"), "address.email")
    if "@" not in recipient:
        raise BadMessage("address.email is not an email address")
    target = LinkTarget(
        message.workspace_id, message.user_id, message.delivery_id, "email", content.get("category")
    )
    message_id = f"<{message.delivery_id}@{sender.domain}>"
    try:
        headers = [
            ("From", mailbox(_clean(sender.from_email, "from"), _clean(sender.from_name, "from"))),
            ("To", mailbox(recipient)),
            ("Subject", encoded_words(_clean(content.get("subject"), "content.subject"))),
            ("Date", format_datetime(utcnow())),
            ("Message-ID", message_id),
        ]
        if sender.reply_to:
            headers.append(("Reply-To", mailbox(_clean(sender.reply_to, "reply_to"))))
    except UnicodeError as exc:
        raise BadMessage(f"an address cannot be encoded: {exc}") from None
    except ValueError as exc:
        raise BadMessage(str(exc)) from None
    if links is not None:
        headers.append(("List-Unsubscribe", f"<{links.unsubscribe_url(target)}>"))
        headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))

    markup = content.get("html")
    text = content.get("text")
    if markup:
        markup = _decorate(str(markup), content, target, links)
        text = text or html_to_text(markup)
    if not text and not markup:
        raise BadMessage("the email has neither html nor text")
    parts = [text_part("plain", str(text))] if text else []
    if markup:
        parts.append(text_part("html", markup))
    return BuiltEmail(message_id, recipient, assemble(headers, parts))


def _decorate(markup: str, content: dict[str, Any], target: LinkTarget, links: TrackingLinks | None) -> str:
    if content.get("preheader"):
        markup = add_preheader(markup, str(content["preheader"]))
    if links is None:
        return markup
    if content.get("track_clicks", True):
        own = links.base + "/"

        def tracked(url: str) -> str | None:
            if not is_trackable_url(url) or url.startswith(own):
                return None
            return links.click_url(target, url)

        markup = rewrite_links(markup, tracked)
    if content.get("track_opens", True):
        markup = add_pixel(markup, links.open_url(target))
    return markup
