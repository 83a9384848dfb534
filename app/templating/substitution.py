"""Templates that only substitute values (``Hi {{ user.first_name }}``), rendered without Jinja.

Most message fields are text with a few variables and no filters, tags or expressions. Such
a template is turned into its literal parts and the paths of its variables, and rendering
joins them: no Jinja context per render, no watchdog (looking up a path cannot run long), a
fraction of the time. The output is exactly Jinja's (tests/templating compare the two): a
missing value or ``None`` renders empty, values are ``str()``-ed and, in HTML fields,
escaped; literal text is kept as the lexer left it. Whenever a value is not what the fast
path knows (a path through something other than a dict), the caller renders with Jinja.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes
from markupsafe import escape

Path = tuple[str, ...]
_DICT_NAMES = frozenset(dir(dict))


class NotSubstitution(Exception):
    """A value on a variable's path is not a dict: render this one with Jinja."""


_MISSING = object()


@dataclass(frozen=True, slots=True)
class Substitution:
    parts: tuple[str | Path, ...]  # literal text, or the path of a variable
    escape_values: bool

    def render(self, context: dict[str, Any]) -> str:
        out: list[str] = []
        convert: Callable[[Any], str] = _escaped if self.escape_values else str
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value: Any = context
            for name in part:
                if type(value) is not dict:  # subclasses may answer missing keys (__missing__)
                    raise NotSubstitution
                value = value.get(name, _MISSING)
                if value is _MISSING:
                    break
            if value is not _MISSING and value is not None:
                out.append(convert(value))
        return "".join(out)


def _escaped(value: Any) -> str:
    return str(escape(value))


def substitution(tree: nodes.Template, *, html: bool, reserved: frozenset[str]) -> Substitution | None:
    """The template as literal parts and variable paths, or None when it does anything else.

    ``reserved`` are the environment's global names (a bare ``{{ range }}`` is not a variable).
    """
    parts: list[str | Path] = []
    for statement in tree.body:
        if not isinstance(statement, nodes.Output):
            return None
        for node in statement.nodes:
            if isinstance(node, nodes.TemplateData):
                parts.append(node.data)
                continue
            path = _path(node)
            if path is None or path[0] in reserved:
                return None
            parts.append(path)
    return Substitution(tuple(parts), html)


def _path(node: nodes.Node) -> Path | None:
    """``user.attributes.plan`` or ``user["attributes"]["plan"]`` as its names; None otherwise.
    Names that are also dict attributes (``items``, ``keys``...) resolve differently in Jinja."""
    names: list[str] = []
    while True:
        if isinstance(node, nodes.Name):
            names.append(node.name)
            break
        if isinstance(node, nodes.Getattr):
            names.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            if not isinstance(node.arg.value, str):
                return None
            names.append(node.arg.value)
            node = node.node
        else:
            return None
    if any(name in _DICT_NAMES or name.startswith("_") for name in names):
        return None
    return tuple(reversed(names))
