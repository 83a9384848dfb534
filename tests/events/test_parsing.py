"""The batch fast path (msgspec) must never disagree with the EventIn model: whatever it
accepts the model accepts with the same values, and whatever the model refuses goes to the
model, which words the error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app.events.fast_validation import plainly_valid
from app.events.schemas import EventIn
from app.events.service import parse_item, to_tracked
from app.kit.error_handlers import field_path
from app.kit.errors import NudgeError

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

_MISSING = object()
_edge_text = st.sampled_from(["", " ", "a\x00b", "é" * 200, "é" * 201, "😀" * 255, "😀" * 256, "x" * 199])
_valid_text = st.text(min_size=1, max_size=30)
_text = st.one_of(*[_valid_text] * 8, _edge_text, st.text(min_size=190, max_size=260))
_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**64), max_value=2**64) | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=40,
)
_timestamp = st.one_of(
    st.none(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False),
    st.datetimes(timezones=st.none() | st.just(UTC)).map(datetime.isoformat),
    st.datetimes().map(lambda d: d.isoformat() + "+05:45"),
    st.sampled_from(
        ["2026-11-26", "2026-11-26T10:00:00Z", "2026-11-26 10:00", "yesterday", "", "2026-13-01"]
    ),
)
_properties = st.one_of(
    st.dictionaries(st.text(max_size=5), _json, max_size=4),
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=8), max_size=4),
    _json,
)
_item = st.fixed_dictionaries(
    {
        "user_id": st.one_of(*[_text] * 8, st.integers(), st.just(_MISSING)),
        "name": st.one_of(*[_text] * 8, st.none(), st.just(_MISSING)),
        "timestamp": st.one_of(_timestamp, st.just(_MISSING), st.just(_MISSING)),
        "properties": st.one_of(_properties, st.just(_MISSING)),
        "message_id": st.one_of(_text, st.none(), st.just(_MISSING)),
        "colour": st.one_of(st.just("blue"), st.just(_MISSING), st.just(_MISSING), st.just(_MISSING)),
    }
).map(lambda item: {key: value for key, value in item.items() if value is not _MISSING})


def _outcome(parse: Any, raw: Any) -> Any:
    """The stored event, the error answer (status, field, message), or the crash."""
    try:
        return parse(raw)
    except NudgeError as exc:
        return (exc.status, exc.field, exc.message)
    except Exception as exc:  # both paths must fail alike; the model's checks decide what is refused
        return type(exc)


def _by_model(raw: Any) -> Any:
    try:
        event = EventIn.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = field_path(first["loc"])
        return (422, where, f"{where}: {first['msg']}")
    return _outcome(lambda _: to_tracked(event, NOW), raw)


@settings(max_examples=500, deadline=None)
@given(_item)
def test_parsing_answers_exactly_as_the_model_does(item):
    try:
        raw = orjson.loads(orjson.dumps(item))
    except orjson.JSONEncodeError:
        return  # not JSON a client could send (an integer wider than 64 bits)
    event(f"fast path: {plainly_valid(raw) is not None}")
    assert _outcome(lambda r: parse_item(r, NOW), raw) == _by_model(raw)


_storable = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
_ordinary_item = st.fixed_dictionaries(
    {
        "user_id": st.text(_storable, min_size=1, max_size=255),
        "name": st.text(_storable, min_size=1, max_size=200),
    },
    optional={
        "timestamp": st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2026, 11, 26)).map(
            lambda d: d.isoformat() + "Z"
        ),
        "properties": st.dictionaries(
            st.text(_storable, max_size=8),
            st.none()
            | st.booleans()
            | st.integers(-(2**53), 2**53)
            | st.floats(allow_nan=False, allow_infinity=False),
            max_size=6,
        ),
        "message_id": st.text(_storable, min_size=1, max_size=200),
    },
)


@settings(max_examples=200, deadline=None)
@given(_ordinary_item)
@example({"user_id": "0", "name": "0", "properties": {"": 0.0028309584565829027}})  # a long fraction
def test_ordinary_items_take_the_fast_path(item):
    raw = orjson.loads(orjson.dumps(item))
    assert plainly_valid(raw) is not None
    assert parse_item(raw, NOW) == _by_model(raw)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"name": "e"}, "user_id"),
        ({"user_id": 5, "name": "e"}, "user_id"),
        ({"user_id": "", "name": "e"}, "user_id"),
        ({"user_id": "u", "name": "x" * 201}, "name"),
        ({"user_id": "u", "name": "e", "timestamp": "yesterday"}, "timestamp"),
        ({"user_id": "u", "name": "e", "properties": [1]}, "properties"),
        ({"user_id": "u", "name": "e", "message_id": ""}, "message_id"),
        ({"user_id": "u", "name": "e", "colour": "blue"}, "colour"),
        ("not an object", "body"),
    ],
)
def test_a_refused_item_gets_the_models_own_message_naming_the_field(raw, field):
    assert plainly_valid(raw) is None
    with pytest.raises(NudgeError) as refused:
        parse_item(raw, NOW)
    with pytest.raises(ValidationError) as by_model:
        EventIn.model_validate(raw)
    first = by_model.value.errors()[0]
    assert refused.value.field == field
    assert refused.value.message.endswith(first["msg"])


def test_checks_after_validation_hold_on_the_fast_path():
    late = {"user_id": "u", "name": "e", "timestamp": (NOW + timedelta(days=2)).isoformat()}
    with pytest.raises(NudgeError) as refused:
        parse_item(late, NOW)
    assert refused.value.field == "timestamp"
    big = {"user_id": "u", "name": "e", "properties": {"blob": "x" * 40_000}}
    with pytest.raises(NudgeError) as refused:
        parse_item(big, NOW)
    assert (refused.value.status, refused.value.field) == (413, "properties")


@pytest.mark.parametrize(
    "properties",
    [{"n": 2**63}, {"s": "a\x00"}, {"a": [[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}, {"\x00": 1}],
)
def test_values_that_may_not_be_storable_are_left_to_the_model(properties):
    assert plainly_valid({"user_id": "u", "name": "e", "properties": properties}) is None


def test_a_plain_item_is_taken_as_sent():
    raw = {
        "user_id": "u-1",
        "name": "purchase",
        "timestamp": "2026-11-26T10:15:00+05:45",
        "properties": {"value": 19.9, "items": ["a", "b"], "nested": {"ok": True}},
        "message_id": "m-1",
    }
    event = parse_item(raw, NOW)
    assert event == to_tracked(EventIn.model_validate(raw), NOW)
    assert event.occurred_at == datetime(2026, 11, 26, 4, 30, tzinfo=UTC)
    assert orjson.loads(event.properties_json) == raw["properties"]
