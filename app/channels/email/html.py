"""HTML touch-ups for tracked email: a hidden preheader, click-tracked links, an open pixel,
and a plain-text alternative derived from the HTML when the content has none."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_BODY_CLOSE = re.compile(r"</body\s*>", re.IGNORECASE)


def rewrite_links(markup: str, rewrite: Callable[[str], str | None]) -> str:
    """Replace each ``<a href>`` whose rewrite is not None; other links stay as they are."""

    def replace(match: re.Match[str]) -> str:
        url = html.unescape(match.group(3)).strip()
        new = rewrite(url)
        if new is None:
            return match.group(0)
        return f"{match.group(1)}{match.group(2)}{html.escape(new, quote=True)}{match.group(2)}"

    return _HREF.sub(replace, markup)


def add_preheader(markup: str, preheader: str) -> str:
    hidden = (
        '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all" aria-hidden="true">'
        f"{html.escape(preheader)}</div>"
    )
    opening = _BODY_OPEN.search(markup)
    if opening is None:
        return hidden + markup
    return markup[: opening.end()] + hidden + markup[opening.end() :]


def add_pixel(markup: str, pixel_url: str) -> str:
    pixel = (
        f'<img src="{html.escape(pixel_url, quote=True)}" width="1" height="1" alt="" style="display:none">'
    )
    closings = list(_BODY_CLOSE.finditer(markup))
    if not closings:
        return markup + pixel
    at = closings[-1].start()
    return markup[:at] + pixel + markup[at:]


_INVISIBLE = re.compile(r"<(style|script|head|title)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_ANCHOR = re.compile(
    r"""<a\b[^>]*?\bhref\s*=\s*(["'])(https?://.*?)\1[^>]*>(.*?)</a\s*>""", re.IGNORECASE | re.DOTALL
)
_BLOCK = re.compile(r"</?(p|div|br|tr|li|h[1-6]|table|ul|ol)\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"[ \t\r\f\v]+")


def html_to_text(markup: str) -> str:
    """A readable plain-text twin: block breaks kept, links as ``text (url)``, tags dropped.
    Regular expressions rather than a parser: this runs once per email sent."""
    text = _INVISIBLE.sub("", markup)
    text = _ANCHOR.sub(lambda m: f"{m.group(3)} ({m.group(2)})", text)
    text = _BLOCK.sub("\n", text)
    text = html.unescape(_TAG.sub("", text))
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
