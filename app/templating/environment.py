"""The sandboxed Jinja environment: curated filters, missing values render empty, unsafe
attribute access is an error (not silently empty), and ``*``/``**`` are size-checked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import ChainableUndefined, select_autoescape
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from app.templating.filters import FILTERS
from app.templating.limits import bounded_modulo, bounded_multiply, bounded_power, check_format_string


class _Missing(ChainableUndefined):
    """``user.attributes.plan.tier`` on a user without a plan renders empty, never raises."""

    __slots__ = ()


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            return bounded_multiply(left, right)
        if operator == "**":
            return bounded_power(left, right)
        if operator == "%":
            return bounded_modulo(left, right)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        check_format_string(value.__self__)
        return wrapped

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(f"access to attribute {attribute!r} of a {type(obj).__name__} is not allowed")


def _finalize(value: Any) -> Any:
    return "" if value is None else value


def _make(*, autoescape: bool) -> SandboxedEnvironment:
    env = _Sandbox(
        undefined=_Missing,
        autoescape=select_autoescape(default=autoescape, default_for_string=autoescape),
        finalize=_finalize,
        auto_reload=False,
        cache_size=0,
    )
    env.filters = dict(FILTERS)
    env.tests = {name: env.tests[name] for name in ("defined", "undefined", "none", "number", "string", "in")}
    env.globals = {"range": env.globals["range"]}
    return env


TEXT = _make(autoescape=False)
HTML = _make(autoescape=True)
