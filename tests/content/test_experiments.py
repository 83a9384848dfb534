"""Content experiments: each user's first served variant is recorded (once, across processes)
and the results count who did the goal event after it."""

from __future__ import annotations

import gc
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import make_url

from app.content.exposures import ExposureRecorder
from app.kit.db import Database
from app.main import create_app
from app.models import ContentExposure, User
from app.models.base import utcnow
from app.users import service as users
from tests.content.helpers import PRO, content, create, put_user, variable
from tests.fixtures.assertions import error_of, ok
from tests.fixtures.factories import count_rows

SIZES = [{"key": "small", "value": 10}, {"key": "large", "value": 25}]
LABELS = [{"key": "small", "value": "10%"}, {"key": "large", "value": "25%"}]


def exposures(database, workspace_id) -> dict[tuple[str, str], str]:  # type: ignore[no-untyped-def]
    """(experiment, user's external id) -> variant, as stored."""
    stored = select(ContentExposure.experiment, User.external_id, ContentExposure.variant).join(
        User, User.id == ContentExposure.user_id
    )
    with database.session(workspace_id) as session:
        return {(experiment, user): variant for experiment, user, variant in session.execute(stored)}


def track(client, tenant, events: list[dict[str, str]]) -> None:  # type: ignore[no-untyped-def]
    ok(client.post("/v1/events/batch", json={"events": events}, headers=tenant.secret_headers))


def results(client, tenant, experiment: str, **params):  # type: ignore[no-untyped-def]
    return client.get(f"/v1/content/experiments/{experiment}", params=params, headers=tenant.secret_headers)


@pytest.mark.smoke
def test_the_first_variant_served_is_recorded_once_per_user_and_experiment(
    client, api, settings, database, sink, tenant
):
    h = tenant.secret_headers
    create(client, tenant, variable("discount", "number", 0, variants=SIZES, experiment="spring"))
    create(client, tenant, variable("label", "string", "", variants=LABELS, experiment="spring"))
    create(client, tenant, variable("banner", rules=[{"definition": PRO, "value": "Pro"}], variants=LABELS))
    for name in ("ann", "bob", "cat"):
        put_user(client, tenant, name, plan="free")
    put_user(client, tenant, "pro", plan="pro")
    served = {name: content(client, h, user=name)["variants"] for name in ("ann", "bob", "pro")}
    content(client, h, user="stranger")  # unknown: defaults, nothing to record
    other_process = create_app(settings, database=database, sink=sink)
    with TestClient(other_process) as reader:
        again = {name: content(reader, h, user=name)["variants"] for name in ("ann", "cat")}
        other_process.state.exposures.flush()
    api.state.exposures.flush()

    assert again["ann"] == served["ann"]
    expected = {("spring", name): v["discount"] for name, v in {**served, **again}.items()}
    expected |= {("banner", name): v["banner"] for name, v in {**served, **again}.items() if "banner" in v}
    assert "banner" not in served["pro"]  # a rule matched: not in the experiment
    assert exposures(database, tenant.workspace_id) == expected

    # A later change of weights may serve another variant; the first one stays recorded.
    ok(client.patch("/v1/variables/discount", json={"variants": [{**SIZES[0], "weight": 10_000}]}, headers=h))
    ok(client.patch("/v1/variables/label", json={"variants": [{**LABELS[0], "weight": 10_000}]}, headers=h))
    for name in ("ann", "bob", "cat"):
        assert content(client, h, user=name)["variants"]["discount"] == "small"
    api.state.exposures.flush()
    assert exposures(database, tenant.workspace_id) == expected


def test_results_count_the_goal_after_each_users_first_exposure(client, api, database, tenant):
    h = tenant.secret_headers
    create(client, tenant, variable("discount", "number", 0, variants=SIZES, experiment="spring"))
    names = [f"u{n}" for n in range(300)]
    track(client, tenant, [{"user_id": n, "name": "open"} for n in names])
    # Bought an hour before being served: not a conversion of the experiment.
    earlier = (utcnow() - timedelta(hours=1)).isoformat()
    track(client, tenant, [{"user_id": n, "name": "buy", "timestamp": earlier} for n in names[:50]])
    variant = {n: content(client, h, user=n)["variants"]["discount"] for n in names}
    api.state.exposures.flush()
    buyers = [n for i, n in enumerate(names) if (i % 10 < 6 if variant[n] == "large" else i % 10 < 1)]
    track(client, tenant, [{"user_id": n, "name": "buy"} for n in buyers])

    report = ok(results(client, tenant, "spring", goal="buy"))
    arms = {a["name"]: a for a in report["arms"]}
    for key in ("small", "large"):
        served = [n for n in names if variant[n] == key]
        assert arms[key]["exposures"] == len(served)
        assert arms[key]["conversions"] == len([n for n in buyers if variant[n] == key])
    assert report["winner"] == "large" and report["reference"] == "large"
    assert arms["small"]["significant"] is True and arms["small"]["interval_low"] < arms["small"]["rate"]
    assert ok(results(client, tenant, "spring", goal="open"))["arms"][0]["conversions"] == 0  # all before

    # The window counts from each user's first exposure.
    put_user(client, tenant, "late")
    with database.session(tenant.workspace_id) as session:
        late = users.get(session, "late").id
    api.state.exposures.add(tenant.workspace_id, late, {"spring": "small"}, utcnow() - timedelta(hours=5))
    api.state.exposures.flush()
    ok(client.post("/v1/events", json={"user_id": "late", "name": "buy"}, headers=h))
    wide = {a["name"]: a for a in ok(results(client, tenant, "spring", goal="buy", window_hours=72))["arms"]}
    narrow = {a["name"]: a for a in ok(results(client, tenant, "spring", goal="buy", window_hours=1))["arms"]}
    assert wide["small"]["conversions"] == arms["small"]["conversions"] + 1
    assert narrow["small"]["conversions"] == arms["small"]["conversions"]
    assert wide["small"]["exposures"] == arms["small"]["exposures"] + 1


def test_results_refuse_what_they_cannot_answer_and_stay_in_their_workspace(
    client, api, settings, tenant, other_tenant
):
    create(client, tenant, variable("discount", "number", 0, variants=SIZES, experiment="spring"))
    put_user(client, tenant, "ann")
    content(client, tenant.secret_headers, user="ann")
    api.state.exposures.flush()
    assert error_of(results(client, tenant, "spring"), 422)["field"] == "goal"
    assert (
        error_of(results(client, tenant, "spring", goal="buy", window_hours=0), 422)["field"]
        == "window_hours"
    )
    assert error_of(results(client, tenant, "autumn", goal="buy"), 404)["field"] == "experiment"
    assert error_of(results(client, other_tenant, "spring", goal="buy"), 404)["field"] == "experiment"
    publishable = client.get("/v1/content/experiments/spring?goal=buy", headers=tenant.publishable_headers)
    assert publishable.status_code in (401, 403)
    mine = ok(results(client, tenant, "spring", goal="buy"))
    assert sum(a["exposures"] for a in mine["arms"]) == 1


def test_an_exposure_of_a_user_erased_before_the_write_is_dropped(
    client, api, database, owner_engine, tenant
):
    create(client, tenant, variable("discount", "number", 0, variants=SIZES, experiment="spring"))
    put_user(client, tenant, "gone")
    put_user(client, tenant, "stays")
    content(client, tenant.secret_headers, user="gone")
    content(client, tenant.secret_headers, user="stays")
    assert client.delete("/v1/users/gone", headers=tenant.secret_headers).status_code == 200
    assert api.state.exposures.flush() == 2
    assert count_rows(owner_engine, "content_exposures", tenant.workspace_id) == 1


def test_exposures_wait_for_a_database_that_is_away(client, api, database, settings, owner_engine, tenant):
    put_user(client, tenant, "ann")
    with database.session(tenant.workspace_id) as session:
        ann = users.get(session, "ann").id
    away = Database(settings.model_copy(update={"database_url": _unreachable(settings.database_url)}))
    recorder = ExposureRecorder(away)
    recorder.add(tenant.workspace_id, ann, {"spring": "large"}, utcnow())
    assert recorder.flush() == 0  # refused, kept
    away.dispose()
    recorder.database = database
    assert recorder.flush() == 1
    assert count_rows(owner_engine, "content_exposures", tenant.workspace_id, variant="large") == 1


def _unreachable(url: str) -> str:
    return make_url(url).set(port=1).render_as_string(hide_password=False)  # nothing listens there


def test_written_exposures_are_remembered_without_burdening_the_garbage_collector(client, api, tenant):
    h = tenant.secret_headers
    create(client, tenant, variable("discount", "number", 0, variants=SIZES, experiment="spring"))
    put_user(client, tenant, "ann", plan="free")
    content(client, h, user="ann")
    recorder = api.state.exposures
    assert recorder.flush() == 1

    content(client, h, user="ann")  # remembered: nothing to write again
    assert recorder.flush() == 0
    # Keys a full collection need not walk: a process remembers up to 200,000 of them.
    assert recorder._written and not any(gc.is_tracked(key) for key in recorder._written)
