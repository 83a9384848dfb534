"""A chunk's content: variants compiled once per process, and anew when their content differs."""

from __future__ import annotations

import orjson

from app.delivery import compose


def test_a_variant_is_compiled_once_and_an_edited_one_anew():
    content = {"title": "Hi {{ user.first_name }}", "body": "Sale"}
    first = compose._compiled(orjson.dumps(content))
    assert compose._compiled(orjson.dumps(dict(content))) is first
    edited = compose._compiled(orjson.dumps({**content, "title": "Hello {{ user.first_name }}"}))
    assert edited.render({"user": {"first_name": "Ann"}}) == {"title": "Hello Ann", "body": "Sale"}
    assert first.render({"user": {"first_name": "Ann"}}) == {"title": "Hi Ann", "body": "Sale"}
