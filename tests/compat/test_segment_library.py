"""Segment's own Python library, pointed at a running Nudge by its host setting alone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from segment.analytics import Client

from app.models import Event, User
from tests.fixtures.factories import stored


@pytest.fixture
def errors():
    return []


def segment_client(url: str, key: str, errors: list, **options) -> Client:
    return Client(
        write_key=key, host=url, on_error=lambda error, _batch: errors.append(error), max_retries=0, **options
    )


@pytest.mark.smoke
def test_every_call_type_from_the_library_is_stored(live_url, tenant, database, errors):
    analytics = segment_client(live_url, tenant.publishable, errors, sync_mode=True)
    analytics.identify(
        "u-42",
        {"email": "ada@example.com", "firstName": "Ada", "plan": "pro"},
        context={"timezone": "Asia/Kathmandu", "locale": "ne-NP"},
    )
    analytics.track(
        "u-42",
        "Order Completed",
        {"revenue": 19.9, "currency": "EUR"},
        timestamp=datetime(2026, 1, 5, 12, 0, tzinfo=UTC),
        message_id="order-1",
    )
    analytics.track("u-42", "Order Completed", {"revenue": 19.9}, message_id="order-1")
    analytics.page("u-42", category="Docs", name="Pricing", properties={"path": "/pricing"})
    analytics.screen("u-42", name="Home")
    analytics.group("u-42", "team-1", {"name": "Team"})
    analytics.alias("anon-1", "u-42")
    analytics.track(anonymous_id="anon-9", event="App Opened")
    assert errors == []

    users = {u.external_id: u for u in stored(database, tenant, User)}
    assert set(users) == {"u-42", "anon-9"}
    ada = users["u-42"]
    assert (ada.email, ada.first_name, ada.timezone, ada.locale) == (
        "ada@example.com",
        "Ada",
        "Asia/Kathmandu",
        "ne-NP",
    )
    assert ada.attributes == {"plan": "pro"}
    events = {(e.name, e.user_id): e for e in stored(database, tenant, Event)}
    assert sorted(name for name, _ in events) == ["App Opened", "Order Completed", "page_view", "screen_view"]
    order = events["Order Completed", ada.id]
    assert order.properties == {"revenue": 19.9, "currency": "EUR"}
    assert order.message_id == "order-1"
    assert order.occurred_at == datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    assert events["page_view", ada.id].properties == {
        "path": "/pricing",
        "name": "Pricing",
        "category": "Docs",
    }
    assert events["screen_view", ada.id].properties == {"name": "Home"}


def test_the_librarys_background_batches_are_stored(live_url, tenant, database, errors):
    analytics = segment_client(live_url, tenant.secret, errors, upload_size=25)
    for n in range(60):
        analytics.track(f"user-{n % 6}", "Level Up", {"level": n})
    analytics.flush()
    analytics.join()
    assert errors == []
    assert sorted(e.properties["level"] for e in stored(database, tenant, Event)) == list(range(60))
    assert len(stored(database, tenant, User)) == 6


def test_gzip_compressed_batches_are_accepted(live_url, tenant, database, errors):
    # RudderStack's SDKs compress by default; Segment's library can be asked to.
    analytics = segment_client(live_url, tenant.publishable, errors, sync_mode=True, gzip=True)
    analytics.identify("u1", {"plan": "pro"})
    analytics.track("u1", "Opened", {"screen": "home"})
    assert errors == []
    assert [u.attributes for u in stored(database, tenant, User)] == [{"plan": "pro"}]
    assert [e.properties for e in stored(database, tenant, Event)] == [{"screen": "home"}]


def test_a_wrong_key_is_reported_to_the_library(live_url, tenant, database, errors):
    analytics = segment_client(live_url, "nk_pub_not-a-real-key", errors)
    analytics.track("u1", "Opened")
    analytics.flush()
    analytics.join()
    assert len(errors) == 1 and "401" in str(errors[0])
    assert stored(database, tenant, Event) == []
