"""Resource limits for one render: time, output size, and the size of anything ``*`` or ``**``
could build (checked before the operation runs, so ``'a' * 10**9`` never allocates)."""

from __future__ import annotations

import operator
import re
import string
from typing import Any

MAX_STRING = 100_000  # characters or items any single expression may build
MAX_OUTPUT = 512 * 1024  # characters one rendered field may produce
MAX_RENDER_S = 0.25  # wall time for one render
MAX_EXPONENT_BITS = 4096


class TemplateLimitExceeded(Exception):
    """A render asked for more than its limits allow."""


def bounded_multiply(left: Any, right: Any) -> Any:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(times, int) and len(seq) * times > MAX_STRING:
            raise TemplateLimitExceeded("a repeated string or list would exceed the size limit")
    return operator.mul(left, right)


def bounded_power(left: Any, right: Any) -> Any:
    growing = isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0
    if growing and abs(left).bit_length() * right > MAX_EXPONENT_BITS:
        raise TemplateLimitExceeded("a power would exceed the size limit")
    try:
        return operator.pow(left, right)
    except OverflowError:
        raise TemplateLimitExceeded("a power overflowed") from None


_PRINTF_WIDTH = re.compile(r"%[-#0 +]*(\*|\d{6,}|\.\*|\.\d{6,})")


def bounded_modulo(left: Any, right: Any) -> Any:
    """printf-style formatting with a width or precision that could build a huge string."""
    if isinstance(left, str) and _PRINTF_WIDTH.search(left):
        raise TemplateLimitExceeded("a format width or precision is above the size limit")
    return operator.mod(left, right)


def check_format_string(fmt: str) -> None:
    """``str.format`` specs: no nested fields and no width above the size limit."""
    for _text, _name, spec, _conversion in string.Formatter().parse(fmt):
        if not spec:
            continue
        if "{" in spec:
            raise TemplateLimitExceeded("nested format fields are not allowed")
        if any(int(digits) > MAX_STRING for digits in re.findall(r"\d+", spec)):
            raise TemplateLimitExceeded("a format width or precision is above the size limit")
