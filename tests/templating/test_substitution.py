"""Plain substitutions render without Jinja; the output must be Jinja's, byte for byte."""

from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.templating.compiler import compile_template
from app.templating.context import UserFacts, render_context

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.sampled_from(["plan", "tier"]), st.text(max_size=5), max_size=2),
)
SOURCES = [
    "Hi {{ user.first_name }}!\n",
    "{{ user.attributes.plan }}/{{ user.attributes['tier'] }}/{{ user.attributes.plan.tier }}",
    "{{- user.attributes.plan -}}  <b>{{ user.attributes.missing.deeper }}</b>  ",
    "{{ event.properties.item }} {{ event.name }} {{ event.timestamp }}",
    "{{ occurrences_of.purchase }} {{ occurrences_of['open'] }} {{ lifetime_value }} {{ nobody }}",
    "{# a comment #}{{ user.attributes.items }}{{ user.attributes.keys }}",
]


def _context(plan, tier, item):
    attributes = {"plan": plan, "tier": tier}
    user = SimpleNamespace(first_name=tier, attributes=attributes, timezone=None, locale=None)
    event = {"name": "purchase", "timestamp": datetime(2026, 3, 1, tzinfo=UTC).isoformat(), "properties": {}}
    if item is not None:
        event["properties"]["item"] = item
    return render_context(user, facts=UserFacts(occurrences={"purchase": 2}), event=event)


@pytest.mark.parametrize("html", [False, True])
@pytest.mark.parametrize("source", SOURCES)
@settings(max_examples=40, deadline=None)
@given(plan=VALUES, tier=VALUES, item=VALUES)
def test_fast_path_renders_what_jinja_renders(source, html, plan, tier, item):
    compiled = compile_template(source, field="f", html=html)
    context = _context(plan, tier, item)
    assert compiled.render(context) == replace(compiled, fast=None).render(context)


def test_only_plain_substitutions_take_the_fast_path():
    assert compile_template("Hi {{ user.first_name }}", field="f").fast is not None
    for source in (
        "Hi {{ user.first_name | upper }}",
        "{% if user.first_name %}x{% endif %}",
        "{{ user.first_name ~ '!' }}",
        "{{ range }}",
        "{{ user.attributes.items }}",
        "{{ user._secret }}",
    ):
        assert compile_template(source, field="f").fast is None, source
