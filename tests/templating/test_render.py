from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from app.templating.compiler import Needs, compile_template
from app.templating.content import compile_content
from app.templating.context import UserFacts, render_context


def _user(**fields):
    base = {"external_id": "u1", "first_name": None, "timezone": None, "locale": None, "attributes": {}}
    return SimpleNamespace(**{**base, **fields})


def test_missing_and_null_values_render_empty_or_their_default():
    t = compile_template(
        "Hi {{ user.first_name | default('there') }}{{ user.attributes.plan.tier }}{{ nothing }}!", field="s"
    )
    assert t.render(render_context(_user())) == "Hi there!"
    assert t.render(render_context(_user(first_name="Ada"))) == "Hi Ada!"


def test_html_fields_escape_and_text_fields_do_not():
    compiled = compile_content(
        {"html": "<p>{{ user.attributes.note }}</p>", "text": "{{ user.attributes.note }}"}
    )
    out = compiled.render(render_context(_user(attributes={"note": "<b>&</b>"})))
    assert out == {"html": "<p>&lt;b&gt;&amp;&lt;/b&gt;</p>", "text": "<b>&</b>"}


def test_dates_numbers_and_currency_follow_the_users_zone_and_locale():
    t = compile_template(
        "{{ event.properties.at | datetime('short') }} {{ 1234.5 | number(2) }} {{ 9.99 | currency('EUR') }}",
        field="s",
    )
    at = "2026-01-01T23:30:00Z"
    berlin = render_context(_user(timezone="Europe/Berlin", locale="de-DE"), event={"properties": {"at": at}})
    assert t.render(berlin) == "02.01.26, 00:30 1.234,50 9,99\xa0€"
    workspace_zone = render_context(
        _user(locale="en-US"), event={"properties": {"at": at}}, workspace_zone="Asia/Tokyo"
    )
    assert t.render(workspace_zone) == "1/2/26, 8:30\u202fAM 1,234.50 €9.99"


def test_builtins_are_detected_and_rendered():
    compiled = compile_content(
        {
            "title": "{{ occurrences_of['purchase'] }}/{{ occurrences_of['app_open'] }}",
            "body": "{{ lifetime_value }}",
        }
    )
    assert compiled.needs == Needs(frozenset({"purchase", "app_open"}), True)
    facts = UserFacts({"purchase": 3}, {"purchase": datetime(2026, 1, 1, tzinfo=UTC)}, 42.5)
    assert compiled.render(render_context(_user(), facts=facts)) == {"title": "3/0", "body": "42.5"}


def test_truncate_and_nested_content_and_non_strings_pass_through():
    compiled = compile_content(
        {"buttons": [{"label": "{{ 'abcdefghijkl' | truncate(8) }}", "action": "dismiss"}], "ttl": 60}
    )
    assert compiled.render(render_context(_user())) == {
        "buttons": [{"label": "abcde...", "action": "dismiss"}],
        "ttl": 60,
    }


def test_plain_strings_are_not_compiled():
    t = compile_template("Just text", field="s")
    assert t.template is None and t.render({}) == "Just text"


@pytest.mark.parametrize(
    ("source", "line", "column"),
    [("Hello {{ user.name", 1, 19), ("a\nb {{ x + }}", 2, 10), ("{{ x | nope }}", 1, 8), ("{% for %}", 1, 8)],
)
def test_syntax_errors_name_line_and_column(source, line, column):
    from app.templating.compiler import TemplateInvalid

    with pytest.raises(TemplateInvalid) as caught:
        compile_template(source, field="content.subject")
    error = caught.value.body()["error"]
    assert (error["field"], error["line"], error["column"]) == ("content.subject", line, column)


def test_unsubscribe_and_preference_links_are_template_variables():
    import uuid

    from app.kit.settings import Settings
    from app.tracking.links import UNSUBSCRIBE, LinkTarget, TrackingLinks

    links = TrackingLinks(Settings(database_url="sqlite:///:memory:", secret_key="k" * 40))
    target = LinkTarget(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "email", "news")
    t = compile_template(
        '<a href="{{ unsubscribe_url }}">stop</a> <a href="{{ preferences_url }}">prefs</a>',
        field="h",
        html=True,
    )
    out = t.render(render_context(_user(), links=links.template_links(target)))
    unsubscribe = out.split('href="')[1].split('"')[0]
    assert links.verify(UNSUBSCRIBE, unsubscribe.rsplit("/", 1)[1]).category == "news"
    assert "/preferences/" in out.split('href="')[2]
