"""A chunk whose transaction fails (a bug, a database error: not a provider's answer) counts the
attempt of its rows, so a poison row fails after the attempt limit instead of holding its lane
at the same chunk for ever."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from app.campaigns import planner, service
from app.campaigns.schemas import CampaignCreate
from app.delivery import compose, dispatcher
from app.delivery.throttle import MemoryBuckets
from app.models import Delivery
from tests.campaigns.helpers import T0, add_users, campaign_body, deliveries

MAX_ATTEMPTS = 3


def _launch(database, workspace_id):
    with database.transaction(workspace_id) as session:
        campaign = service.create(session, CampaignCreate.model_validate(campaign_body()))
        _, jobs = service.launch(session, campaign.id, now=T0)
    send_id = uuid.UUID(jobs[0].kwargs["send_id"])
    planner.plan_send(database, database.settings, workspace_id, send_id, now=T0)  # lanes left to the test
    return send_id


def _planned(tuned, tenant, *, chunk_size):
    """Users poison, a, b and c, and a campaign's send to them planned, lanes left to the test."""
    database = tuned(dispatch_chunk_size=chunk_size, dispatch_max_attempts=MAX_ATTEMPTS)
    ws = tenant.workspace_id
    users = add_users(database, ws, [{"external_id": name} for name in ("poison", "a", "b", "c")])
    return database, ws, users, _launch(database, ws)


def _poison(monkeypatch, failing):
    """Make every chunk holding a user ``failing`` says fails while it is composed."""
    real = compose.compile_chunk

    def compile_chunk(session, campaign, send, pending):
        if any(failing(p.row.user.external_id) for p in pending):
            raise RuntimeError("boom")
        return real(session, campaign, send, pending)

    monkeypatch.setattr(compose, "compile_chunk", compile_chunk)


def _dispatch(database, workspace_id, send_id, now):
    try:
        return dispatcher.dispatch_chunk(
            database, MemoryBuckets(), workspace_id=workspace_id, send_id=send_id, now=now
        )[0]
    except RuntimeError:
        return None


def _by_user(database, workspace_id, users) -> dict[str, Delivery]:
    external = dict(zip(users, ("poison", "a", "b", "c"), strict=True))
    return {external[d.user_id]: d for d in deliveries(database, workspace_id)}


@pytest.mark.smoke
def test_a_poison_row_fails_after_the_attempt_limit_and_the_others_are_sent(
    tuned, tenant, recording, monkeypatch
):
    database, ws, users, send_id = _planned(tuned, tenant, chunk_size=1)
    _poison(monkeypatch, lambda external_id: external_id == "poison")
    now = T0
    for _ in range(12):
        _dispatch(database, ws, send_id, now)
        now += timedelta(seconds=dispatcher.RETRY_BACKOFF_S + 1)
    rows = _by_user(database, ws, users)
    assert rows["poison"].status == "failed"
    assert rows["poison"].attempts == MAX_ATTEMPTS
    assert rows["poison"].error == "dispatch failed: RuntimeError: boom"
    assert {name: rows[name].status for name in "abc"} == dict.fromkeys("abc", "sent")
    assert {m.delivery_id for m in recording.messages} == {rows[name].id for name in "abc"}


@pytest.mark.smoke
def test_a_failed_chunk_goes_back_to_queued_later_with_its_attempt_counted(
    tuned, tenant, recording, monkeypatch
):
    database, ws, users, send_id = _planned(tuned, tenant, chunk_size=10)
    _poison(monkeypatch, lambda _: True)  # say, the database failing mid-chunk
    assert _dispatch(database, ws, send_id, T0) is None
    retry_at = T0 + timedelta(seconds=dispatcher.RETRY_BACKOFF_S)
    rows = _by_user(database, ws, users).values()
    assert {(r.status, r.attempts, r.due_at, r.error) for r in rows} == {
        ("queued", 1, retry_at, "dispatch failed: RuntimeError: boom")
    }
    assert _dispatch(database, ws, send_id, T0).claimed == 0  # not due again before retry_at
    monkeypatch.undo()
    monkeypatch.setattr(dispatcher.channels, "channel_for", lambda *_: recording)
    assert _dispatch(database, ws, send_id, retry_at).sent == 4
    assert {(r.status, r.attempts) for r in _by_user(database, ws, users).values()} == {("sent", 2)}
    assert len(recording.messages) == 4
