"""Message content: Jinja templates in a sandbox, compiled once per variant, rendered per user.

Strings without template syntax are kept as they are (no render cost). ``html`` fields are
autoescaped; other fields are plain text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Template, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.kit.errors import Invalid


def _blank_none(value: Any) -> Any:
    return "" if value is None else value


_text = ImmutableSandboxedEnvironment(autoescape=False, finalize=_blank_none)
_html = ImmutableSandboxedEnvironment(autoescape=True, finalize=_blank_none)
_MARKERS = ("{{", "{%", "{#")

REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    # each inner tuple: at least one of these fields must be present
    "push": (("body",),),
    "email": (("subject",), ("html", "text")),
    "in_app": (("body",),),
    "webhook": (("url",),),
}

Compiled = dict[str, Any]  # field -> Template | str | nested Compiled | other JSON value


def _compile_value(value: Any, name: str, where: str) -> Any:
    if isinstance(value, str):
        if not any(marker in value for marker in _MARKERS):
            return value
        env = _html if name == "html" else _text
        try:
            return env.from_string(value)
        except TemplateError as exc:
            raise Invalid(f"{where}: template error: {exc}", field=where) from None
    if isinstance(value, Mapping):
        return {k: _compile_value(v, str(k), f"{where}.{k}") for k, v in value.items()}
    return value


def compile_content(content: Mapping[str, Any], where: str = "content") -> Compiled:
    return {key: _compile_value(value, key, f"{where}.{key}") for key, value in content.items()}


def check_content(channel: str, content: Mapping[str, Any], where: str) -> None:
    """Refuse content the channel cannot send, naming the field; compiles every template."""
    for alternatives in REQUIRED[channel]:
        if not any(isinstance(content.get(name), str) and content[name].strip() for name in alternatives):
            field = f"{where}.{alternatives[0]}"
            raise Invalid(f"{channel} content needs {' or '.join(alternatives)}", field=field)
    if channel == "webhook":
        url = content["url"]
        if not any(marker in url for marker in _MARKERS) and urlsplit(url).scheme not in ("http", "https"):
            raise Invalid("url must be an http(s) URL", field=f"{where}.url")
    compile_content(content, where)


def _render_value(value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, Template):
        return value.render(context)
    if isinstance(value, dict):
        return {k: _render_value(v, context) for k, v in value.items()}
    return value


def render(compiled: Compiled, context: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _render_value(value, context) for key, value in compiled.items()}


_COMPILED: dict[tuple[str, int, str], Compiled] = {}
_MAX_CACHED = 512


def compiled_variant(campaign_id: str, revision: int, variant: Mapping[str, Any]) -> Compiled:
    """A variant's compiled content, reused by every chunk until the campaign's revision moves."""
    key = (campaign_id, revision, variant["key"])
    found = _COMPILED.get(key)
    if found is None:
        if len(_COMPILED) >= _MAX_CACHED:
            _COMPILED.clear()
        found = _COMPILED[key] = compile_content(variant["content"])
    return found
