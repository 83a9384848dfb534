"""The curated filters a template may use. Anything not listed here is refused at save time
(``attr``, ``format``, ``map``, ``xmlattr`` and friends are deliberately absent).

Dates, numbers and currencies are shown in the user's zone and locale, read from the render
context (``_zone`` and ``_locale``), so one template reads right for everyone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from jinja2 import Undefined, pass_context
from jinja2 import filters as builtin
from jinja2.runtime import Context

from app.kit.timezones import in_zone
from app.templating.limits import MAX_STRING, TemplateLimitExceeded

DEFAULT_LOCALE = "en"


def default(value: Any, fallback: Any = "", boolean: bool = False) -> Any:
    """Missing, null and (unlike Jinja's own) empty values take the fallback."""
    if isinstance(value, Undefined) or value is None or value == "":
        return fallback
    if boolean and not value:
        return fallback
    return value


def truncate(value: Any, length: int = 255, killwords: bool = False, end: str = "...") -> str:
    return builtin.do_truncate(None, str(value), min(int(length), MAX_STRING), killwords, end, 0)  # type: ignore[arg-type]


def replace(value: Any, old: str, new: str, count: int | None = None) -> str:
    text, old, new = str(value), str(old), str(new)
    occurrences = text.count(old) if old else len(text) + 1
    if len(text) + occurrences * max(len(new) - len(old), 0) > MAX_STRING:
        raise TemplateLimitExceeded("replace would produce a string longer than the limit")
    return text.replace(old, new, -1 if count is None else count)


def _locale(context: Context) -> str:
    raw = context.get("_locale") or DEFAULT_LOCALE
    return str(raw).replace("-", "_")


def _zone(context: Context) -> str:
    return str(context.get("_zone") or "UTC")


def _instant(value: Any) -> datetime | date | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


@pass_context
def format_date(context: Context, value: Any, style: str = "medium") -> str:
    """A date in the user's zone and locale; ``style`` is short/medium/long/full or a pattern."""
    instant = _instant(value)
    if instant is None:
        return ""
    if isinstance(instant, datetime):
        instant = in_zone(instant, _zone(context))
    return babel_dates.format_date(instant, style, locale=_locale(context))


@pass_context
def format_datetime(context: Context, value: Any, style: str = "medium") -> str:
    instant = _instant(value)
    if not isinstance(instant, datetime):
        return format_date(context, value, style) if instant else ""
    local = in_zone(instant, _zone(context))
    return babel_dates.format_datetime(local, style, tzinfo=local.tzinfo, locale=_locale(context))


@pass_context
def format_number(context: Context, value: Any, decimals: int | None = None) -> str:
    number = _number(value)
    if number is None:
        return ""
    if decimals is not None:
        pattern = "#,##0" + ("." + "0" * min(int(decimals), 10) if int(decimals) > 0 else "")
        return babel_numbers.format_decimal(number, format=pattern, locale=_locale(context))
    return babel_numbers.format_decimal(number, locale=_locale(context))


@pass_context
def format_currency(context: Context, value: Any, currency: str = "USD") -> str:
    number = _number(value)
    if number is None:
        return ""
    return babel_numbers.format_currency(number, str(currency).upper()[:3], locale=_locale(context))


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    try:
        return float(str(value))
    except ValueError:
        return None


def _bounded_join(value: Any, separator: str = "") -> str:
    parts = [str(item) for item in value]
    if sum(map(len, parts)) + len(separator) * len(parts) > MAX_STRING:
        raise TemplateLimitExceeded("join would produce a string longer than the limit")
    return separator.join(parts)


FILTERS: dict[str, Callable[..., Any]] = {
    "default": default,
    "d": default,
    "upper": builtin.do_upper,
    "lower": builtin.do_lower,
    "title": builtin.do_title,
    "capitalize": builtin.do_capitalize,
    "trim": builtin.do_trim,
    "truncate": truncate,
    "replace": replace,
    "striptags": builtin.do_striptags,
    "escape": builtin.escape,
    "e": builtin.escape,
    "urlencode": builtin.do_urlencode,
    "tojson": builtin.do_tojson,
    "length": len,
    "count": len,
    "first": builtin.do_first,
    "last": builtin.do_last,
    "join": _bounded_join,
    "round": builtin.do_round,
    "int": builtin.do_int,
    "float": builtin.do_float,
    "abs": abs,
    "wordcount": builtin.do_wordcount,
    "date": format_date,
    "datetime": format_datetime,
    "number": format_number,
    "currency": format_currency,
}
