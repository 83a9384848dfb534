"""Compile once, render many. Compiling checks syntax and every filter name, so a bad
template is refused when content is saved (422 naming field, line and column), and a send
never meets one. Rendering is bounded in time and size and fails with ``RenderFailed``; a
missing variable is not a failure."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Template, TemplateError, nodes
from jinja2.exceptions import TemplateAssertionError, TemplateSyntaxError
from jinja2.lexer import Token
from jinja2.parser import Parser

from app.kit.errors import Invalid
from app.templating.environment import HTML, TEXT
from app.templating.limits import MAX_OUTPUT, MAX_RENDER_S, TemplateLimitExceeded
from app.templating.substitution import NotSubstitution, Substitution, substitution
from app.templating.watchdog import RenderTimeout, render_deadline

MAX_SOURCE = 256 * 1024
BUILTIN_LOOKUPS = ("occurrences_of", "last_occurrence_of")
_TOO_LONG = f"output is longer than {MAX_OUTPUT} characters"


class TemplateInvalid(Invalid):
    """422 with the field, line and column of the first error."""

    def __init__(self, message: str, *, field: str, line: int, column: int) -> None:
        super().__init__(f"line {line}, column {column}: {message}", field=field)
        self.line = line
        self.column = column

    def body(self) -> dict[str, Any]:
        body = super().body()
        body["error"].update(line=self.line, column=self.column)
        return body


class RenderFailed(Exception):
    """A render broke a limit or the sandbox; the message is safe to store on a delivery."""


class RenderTimedOut(RenderFailed):
    """A render ran past its wall-time limit: a runaway template, or a busy machine, so the
    caller may try once more later."""


@dataclass(frozen=True)
class Needs:
    """What a template reads beyond the user's own row, so one query per chunk loads it."""

    events: frozenset[str] = frozenset()
    lifetime_value: bool = False

    def __or__(self, other: Needs) -> Needs:
        return Needs(self.events | other.events, self.lifetime_value or other.lifetime_value)


@dataclass(frozen=True)
class CompiledTemplate:
    source: str
    template: Template | None  # None when the source has no template syntax at all
    needs: Needs = field(default_factory=Needs)
    fast: Substitution | None = None  # the same output without Jinja, for plain substitutions

    def render(self, context: dict[str, Any]) -> str:
        if self.template is None:
            return self.source
        if self.fast is not None:
            try:
                text = self.fast.render(context)
            except NotSubstitution:
                pass
            else:
                if len(text) > MAX_OUTPUT:
                    raise RenderFailed(f"TemplateLimitExceeded: {_TOO_LONG}")
                return text
        parts: list[str] = []
        size = 0
        try:
            with render_deadline(MAX_RENDER_S):
                for chunk in self.template.generate(context):
                    size += len(chunk)
                    if size > MAX_OUTPUT:
                        raise TemplateLimitExceeded(_TOO_LONG)
                    parts.append(chunk)
        except RenderTimeout:
            raise RenderTimedOut(f"render took longer than {MAX_RENDER_S}s") from None
        except RecursionError:
            raise RenderFailed("render recursed too deeply") from None
        except (
            TemplateLimitExceeded,
            TemplateError,
            ArithmeticError,
            LookupError,
            TypeError,
            ValueError,
        ) as exc:
            raise RenderFailed(f"{type(exc).__name__}: {exc}") from None
        return "".join(parts)


def compile_template(source: str, *, field: str, html: bool = False) -> CompiledTemplate:
    """Parse and compile ``source``; raises TemplateInvalid naming ``field``."""
    if len(source) > MAX_SOURCE:
        raise Invalid(f"a template may hold at most {MAX_SOURCE} characters", field=field)
    if not any(marker in source for marker in ("{{", "{%", "{#")):
        return CompiledTemplate(source, None)
    env = HTML if html else TEXT
    parser = Parser(env, source)
    try:
        tree = parser.parse()
    except TemplateSyntaxError as exc:
        line = exc.lineno or 1
        raise TemplateInvalid(
            exc.message or "syntax error", field=field, line=line, column=_column(source, line, parser)
        ) from None
    try:
        code = env.compile(tree)
    except TemplateAssertionError as exc:
        line = exc.lineno or 1
        column = _column_of_name(source, line, exc.message or "")
        raise TemplateInvalid(
            exc.message or "invalid template", field=field, line=line, column=column
        ) from None
    template = env.template_class.from_code(env, code, env.globals)
    fast = substitution(tree, html=html, reserved=frozenset(env.globals))
    return CompiledTemplate(source, template, _needs(tree), fast)


def _column(source: str, line: int, parser: Parser) -> int:
    """1-based column of the token the parser stopped at, found on its line."""
    lines = source.splitlines() or [""]
    if line > len(lines):
        return len(lines[-1]) + 1
    text = lines[line - 1]
    current: Token = parser.stream.current
    first_tag = min((i for i in (text.find("{{"), text.find("{%")) if i >= 0), default=0)
    if current.type == "eof":
        return len(text) + 1
    needle = {"variable_end": "}}", "block_end": "%}"}.get(current.type, str(current.value))
    found = text.find(needle, first_tag) if needle else -1
    return (found if found >= 0 else first_tag) + 1


def _column_of_name(source: str, line: int, message: str) -> int:
    lines = source.splitlines() or [""]
    text = lines[min(line, len(lines)) - 1]
    named = re.search(r"'([^']+)'", message)
    found = text.find(named.group(1)) if named else -1
    return found + 1 if found >= 0 else 1


def _needs(tree: nodes.Template) -> Needs:
    events: set[str] = set()
    for item in tree.find_all(nodes.Getitem):
        builtin = isinstance(item.node, nodes.Name) and item.node.name in BUILTIN_LOOKUPS
        if builtin and isinstance(item.arg, nodes.Const) and isinstance(item.arg.value, str):
            events.add(item.arg.value)
    uses_ltv = any(name.name == "lifetime_value" for name in tree.find_all(nodes.Name))
    return Needs(frozenset(events), uses_ltv)
