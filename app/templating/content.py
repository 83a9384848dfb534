"""Message content as a tree of templates: every string in a content document (subject,
html, title, button labels, custom data values...) is a template, compiled once per variant
and rendered per user. Only ``html`` fields are HTML-escaped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.kit.errors import Invalid
from app.templating.compiler import CompiledTemplate, Needs, compile_template

HTML_FIELDS = frozenset({"html"})
MAX_DEPTH = 8
# What each channel cannot send without: each inner tuple needs at least one of its fields.
REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    "push": (("body",),),
    "email": (("subject",), ("html", "text")),
    "in_app": (("body",),),
    "webhook": (("body", "json"),),
}


@dataclass(frozen=True)
class CompiledContent:
    tree: Any  # the content with every string replaced by its CompiledTemplate
    needs: Needs

    def render(self, context: dict[str, Any]) -> dict[str, Any]:
        """Raises RenderFailed when a field breaks the sandbox or a limit."""
        return _render(self.tree, context)


def compile_content(content: dict[str, Any], *, field: str = "content") -> CompiledContent:
    """Raises TemplateInvalid naming the first bad field (``content.subject``...)."""
    needs = Needs()

    def walk(value: Any, path: str, key: str, depth: int) -> Any:
        nonlocal needs
        if depth > MAX_DEPTH:
            raise Invalid(f"content nests deeper than {MAX_DEPTH} levels", field=path)
        if isinstance(value, str):
            compiled = compile_template(value, field=path, html=key in HTML_FIELDS)
            needs = needs | compiled.needs
            return compiled
        if isinstance(value, dict):
            return {k: walk(v, f"{path}.{k}", k, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{path}[{i}]", key, depth + 1) for i, v in enumerate(value)]
        return value

    return CompiledContent(walk(content, field, "", 0), needs)


def check_channel_content(channel: str, content: dict[str, Any], *, field: str) -> CompiledContent:
    """Refuse content the channel cannot send (naming the missing field), and compile it."""
    for alternatives in REQUIRED[channel]:
        if not any(_present(content.get(name)) for name in alternatives):
            raise Invalid(
                f"{channel} content needs {' or '.join(alternatives)}", field=f"{field}.{alternatives[0]}"
            )
    return compile_content(content, field=field)


def _present(value: Any) -> bool:
    return bool(value.strip()) if isinstance(value, str) else isinstance(value, dict) and bool(value)


def _render(value: Any, context: dict[str, Any]) -> Any:
    if isinstance(value, CompiledTemplate):
        return value.render(context)
    if isinstance(value, dict):
        return {k: _render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, context) for v in value]
    return value
