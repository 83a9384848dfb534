"""Attribute updates in isolation: merge, set operations and their refusals."""

from __future__ import annotations

import pytest

from app.kit.errors import Invalid, TooLarge
from app.users.attributes import MAX_TOTAL_BYTES, AttributeChanges, apply


def test_merge_then_set_operations_in_one_update():
    current = {"plan": "free", "tags": ["a"], "logins": 2, "gone": 1}
    changes = AttributeChanges(
        set={"plan": "pro", "gone": None},
        add={"tags": ["b", "a"]},
        remove={"tags": ["a"]},
        increment={"logins": 3},
    )
    assert apply(current, changes) == {"plan": "pro", "tags": ["b"], "logins": 5}
    assert current == {"plan": "free", "tags": ["a"], "logins": 2, "gone": 1}  # not modified in place


def test_an_increment_that_would_overflow_is_refused():
    with pytest.raises(Invalid) as caught:
        apply({"n": 2**63 - 1}, AttributeChanges(increment={"n": 1}))
    assert caught.value.field == "increment.n"
    with pytest.raises(Invalid):
        apply({"x": 1.7e308}, AttributeChanges(increment={"x": 1.7e308}))


def test_the_size_limit_counts_numbers_postgres_returns_beyond_64_bits():
    assert apply({"big": 10**20}, AttributeChanges(set={"a": 1})) == {"big": 10**20, "a": 1}
    with pytest.raises(TooLarge):
        apply({"big": 10**20}, AttributeChanges(set={"a": "x" * MAX_TOTAL_BYTES}))
