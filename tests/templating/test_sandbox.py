"""Known Jinja sandbox escapes and resource bombs: each is refused at save time or fails its
render with RenderFailed, quickly, and the next render still works."""

import threading
import time

import pytest

from app.templating.compiler import RenderFailed, TemplateInvalid, compile_template

REFUSED_AT_RENDER = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ user.__class__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ (1).__class__.__base__ }}",
    "{{ '{0.__class__}'.format(1) }}",
    "{{ '{x.__class__.__init__}'.format_map({'x': user}) }}",
    "{{ '{0.__globals__}'.format(range) }}",
    "{{ 'a' * 10**9 }}",
    "{{ ['a'] * 10**8 }}",
    "{{ 10 ** (10 ** 10) }}",
    "{{ 2 ** 100000 }}",
    "{{ '%*d' % (10**8, 1) }}",
    "{{ '%.999999999f' % 1 }}",
    "{{ '{:>100000000}'.format(1) }}",
    "{{ '{:>{w}}'.format(1, w=10**8) }}",
    "{{ 'x' | replace('', 'a' * 90000) }}",
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% set s = 'x' * 99999 %}{% for i in range(100000) %}{{ s }}{% endfor %}",
    "{{ range(10**9) | join(',') }}",
]

REFUSED_AT_SAVE = [
    "{{ x | attr('__class__') }}",
    "{{ x | map(attribute='__class__') | list }}",
    "{{ x | format('%s') }}",
    "{{ x | xmlattr }}",
    "{{ x | center(10**9) }}",
    "{% include 'other' %}{% if %}",
    "{{ x +  }}",
]


@pytest.mark.parametrize("source", REFUSED_AT_RENDER)
def test_escape_or_bomb_fails_its_render_quickly(source):
    template = compile_template(source, field="body")
    started = time.monotonic()
    with pytest.raises(RenderFailed):
        template.render({"user": {"first_name": "Ada"}})
    assert time.monotonic() - started < 2
    assert compile_template("ok {{ n }}", field="body").render({"n": 1}) == "ok 1"


@pytest.mark.parametrize("source", REFUSED_AT_SAVE)
def test_dangerous_filters_and_syntax_are_refused_at_save(source):
    with pytest.raises(TemplateInvalid) as caught:
        compile_template(source, field="content.body")
    assert caught.value.status == 422
    assert caught.value.body()["error"]["field"] == "content.body"


def test_deadline_is_per_thread():
    slow = compile_template(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", field="b"
    )
    fast = compile_template("{% for i in range(1000) %}{{ i }}{% endfor %}", field="b")
    outcomes: dict[str, object] = {}

    def run(name, template):
        try:
            outcomes[name] = len(template.render({}))
        except RenderFailed as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=run, args=(f"fast{i}", fast)) for i in range(4)]
    threads.append(threading.Thread(target=run, args=("slow", slow)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert isinstance(outcomes["slow"], RenderFailed)
    assert all(outcomes[f"fast{i}"] == len("".join(map(str, range(1000)))) for i in range(4))
