"""Frequency caps, quiet hours, throttles and expiry: each rule's effect on counts and times."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from app.campaigns import planner, service
from app.campaigns.schemas import CampaignCreate
from app.delivery import dispatcher
from app.delivery import policy as policies
from app.delivery.schemas import DeliveryPolicyBody
from app.delivery.throttle import MemoryBuckets
from app.models import FrequencyState, Send
from tests.campaigns.helpers import T0, Lanes, add_users, campaign_body, deliveries, statuses


def _policy(database, ws, **body):
    with database.transaction(ws) as session:
        policies.put(session, DeliveryPolicyBody.model_validate(body))


def _launch(database, ws, at, **overrides):
    with database.transaction(ws) as session:
        campaign = service.create(session, CampaignCreate.model_validate(campaign_body(**overrides)))
        campaign, jobs = service.launch(session, campaign.id, now=at)
    return campaign.id, jobs


def _run_campaign(database, ws, at, lanes=None, **overrides):
    lanes = lanes or Lanes(database)
    campaign_id, jobs = _launch(database, ws, at, **overrides)
    lanes.emit(jobs)
    lanes.run(at)
    return campaign_id


def _by_campaign(database, ws):
    counts = Counter()
    for row in deliveries(database, ws):
        counts[(row.campaign_id, row.status)] += 1
    return counts


def test_frequency_caps_over_rolling_windows(database, tenant, recording):
    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(10)])
    _policy(
        database,
        ws,
        frequency_caps=[
            {"channel": "in_app", "limit": 2, "window_hours": 24},
            {"channel": None, "limit": 3, "window_hours": 168},
        ],
    )
    hour = timedelta(hours=1)
    first = _run_campaign(database, ws, T0)
    second = _run_campaign(database, ws, T0 + hour)
    third = _run_campaign(database, ws, T0 + 2 * hour)  # 3rd in a day: over the daily cap
    fourth = _run_campaign(database, ws, T0 + 25 * hour)  # the day has rolled: 3rd in the week
    fifth = _run_campaign(database, ws, T0 + 26 * hour)  # 4th in the week: over the weekly cap
    exempt = _run_campaign(database, ws, T0 + 27 * hour, limits={"frequency_cap_exempt": True})
    counts = _by_campaign(database, ws)
    assert counts[(first, "sent")] == counts[(second, "sent")] == 10
    assert counts[(third, "suppressed:frequency_cap")] == 10
    assert counts[(fourth, "sent")] == 10
    assert counts[(fifth, "suppressed:frequency_cap")] == 10
    assert counts[(exempt, "sent")] == 10
    with database.transaction(ws) as session:
        recent = session.scalars(select(FrequencyState.recent)).all()
    stamps = {int((T0 + h * hour).timestamp()) for h in (0, 1, 25, 27)}
    assert len(recent) == 10 and all({e[0] for e in r} == stamps for r in recent)  # exempt still counts
    assert len(recording.messages) == 40


def test_two_chunks_for_one_user_cannot_both_pass_a_cap_of_one(database, tenant, recording):
    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(300)])
    _policy(database, ws, frequency_caps=[{"channel": None, "limit": 1, "window_hours": 24}])
    seen = []
    for _ in range(2):
        _, jobs = _launch(database, ws, T0)
        send_id = jobs[0].kwargs["send_id"]
        planner.plan_send(database, database.settings, ws, uuid.UUID(send_id), now=T0)
        seen.append(send_id)
    barrier = threading.Barrier(2)
    errors = []

    def lane(send_id):
        try:
            barrier.wait()
            while True:
                _report, more = dispatcher.dispatch_chunk(
                    database, MemoryBuckets(), workspace_id=ws, send_id=uuid.UUID(send_id), now=T0
                )
                if not more:
                    return
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=lane, args=(s,)) for s in seen]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    per_user = Counter(m.user_id for m in recording.messages)
    assert len(per_user) == 300 and set(per_user.values()) == {1}
    assert statuses(database, ws) == {"sent": 300, "suppressed:frequency_cap": 300}


def test_quiet_hours_defer_to_the_window_end(database, tenant, recording):
    ws = tenant.workspace_id
    berlin, new_york = add_users(
        database,
        ws,
        [
            {"external_id": "b", "timezone": "Europe/Berlin"},
            {"external_id": "n", "timezone": "America/New_York"},
        ],
    )
    _policy(database, ws, quiet_hours={"start": "22:00", "end": "08:00"})
    at = T0.replace(hour=22)  # 23:00 in Berlin (quiet), 17:00 in New York
    lanes = Lanes(database)
    _run_campaign(database, ws, at, lanes=lanes)
    assert {r.user_id: r.status for r in deliveries(database, ws)} == {berlin: "queued", new_york: "sent"}
    morning = T0.replace(day=2, hour=7)  # 08:00 in Berlin
    lanes.settle(morning - timedelta(minutes=1))
    assert len(recording.messages) == 1
    lanes.settle(morning)
    rows = {r.user_id: r for r in deliveries(database, ws)}
    assert rows[berlin].status == "sent" and rows[berlin].sent_at == morning
    assert rows[berlin].attempts == 1  # the deferral did not count as an attempt
    assert rows[new_york].sent_at == at


def test_quiet_hours_drop_ignore_and_expiry(database, tenant, recording):
    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": "b", "timezone": "Europe/Berlin"}])
    _policy(database, ws, quiet_hours={"start": "22:00", "end": "08:00"})
    at = T0.replace(hour=22)
    dropped = _run_campaign(database, ws, at, limits={"quiet_hours": "drop"})
    ignored = _run_campaign(database, ws, at, limits={"quiet_hours": "ignore"})
    expired = _run_campaign(database, ws, at, limits={"expire_after_minutes": 120})
    counts = _by_campaign(database, ws)
    assert counts[(dropped, "suppressed:quiet_hours")] == 1
    assert counts[(ignored, "sent")] == 1
    assert counts[(expired, "expired")] == 1  # deferring to 08:00 would pass its expiry


def test_late_sends_past_expiry_are_marked_expired(database, tenant, recording):
    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(5)])
    lanes = Lanes(database)
    _campaign_id, jobs = _launch(database, ws, T0, limits={"expire_after_minutes": 30})
    lanes.emit(jobs[:1])  # plan only
    lanes.run(T0, limit=1)
    lanes.jobs.clear()  # the lanes are lost...
    lanes.settle(T0 + timedelta(minutes=31))  # ...and restarted after the expiry
    assert statuses(database, ws) == {"expired": 5}
    assert recording.messages == []


def _sent_seconds(database, ws):
    return sorted((r.sent_at - T0).total_seconds() for r in deliveries(database, ws) if r.sent_at)


def test_campaign_throttle_per_minute(tuned, tenant, recording):
    database = tuned(dispatch_chunk_size=100)
    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(35)])
    lanes = Lanes(database)
    _, jobs = _launch(database, ws, T0, limits={"per_minute": 10})
    lanes.emit(jobs)
    lanes.simulate(T0, T0 + timedelta(minutes=10))
    sent = _sent_seconds(database, ws)
    assert len(sent) == 35 == len(recording.messages)
    for start in range(0, 240, 15):  # never more than 10 a minute (plus the one-second burst)
        assert sum(start <= t < start + 60 for t in sent) <= 11
    assert 200 <= sent[-1] <= 215  # 34 more after the first, one every 6 s
    # A chunk claims no more than the bucket holds (one token): the rest would only go back.
    assert max(r.claimed for r in lanes.reports) == 1


def test_lanes_sharing_a_rate_claim_only_the_tokens_it_holds(tuned, tenant, recording):
    database = tuned(dispatch_chunk_size=100, dispatch_lanes=4)
    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(60)])
    lanes = Lanes(database)
    _, jobs = _launch(database, ws, T0, limits={"per_minute": 1200})  # 20/s, a burst of 20
    lanes.emit(jobs)
    lanes.simulate(T0, T0 + timedelta(seconds=30))
    sent = _sent_seconds(database, ws)
    assert len(sent) == 60 == len(recording.messages)
    assert sent[-1] <= 2.1  # (60 - 20) / 20 s
    # Each row claimed once, none written back to wait: the lanes that found the bucket empty
    # claimed nothing and waited for tokens.
    assert sum(r.claimed for r in lanes.reports) == 60
    assert sum(r.requeued for r in lanes.reports) == 0
    assert any(r.claimed == 0 for r in lanes.reports)


def test_a_waiting_lane_records_its_activity_a_few_times_per_stall_window(tuned, tenant, recording):
    """A lane waiting for tokens wakes often; it rewrites its send's activity stamp only once a
    quarter of the planner's stall window has passed, which still keeps the planner away."""
    database = tuned(dispatch_chunk_size=100, dispatch_lanes=1, dispatch_stall_s=8.0)
    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(3)])
    lanes = Lanes(database)
    _, jobs = _launch(database, ws, T0, limits={"per_minute": 1})  # a token a minute, burst 1
    lanes.emit(jobs)
    lanes.run(T0, limit=2)  # plans the send, then its lane sends one and takes the token

    def seen_at():  # type: ignore[no-untyped-def]
        with database.transaction(ws) as session:
            return session.execute(select(Send.dispatch_seen_at)).scalar_one()

    assert seen_at() == T0
    lanes.run(T0 + timedelta(seconds=0.5), limit=1)
    assert lanes.reports[-1].claimed == 0 and seen_at() == T0  # waited, nothing rewritten
    lanes.run(T0 + timedelta(seconds=2.5), limit=1)
    assert lanes.reports[-1].claimed == 0 and seen_at() == T0 + timedelta(seconds=2.5)
    assert lanes.tick(T0 + timedelta(seconds=9)).restarted_sends == 0


def test_workspace_and_channel_rates_per_second(tuned, tenant, recording):
    database = tuned(dispatch_chunk_size=100)
    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(12)])
    _policy(database, ws, rate_per_second=5, channel_rates={"in_app": 4})
    lanes = Lanes(database)
    _, jobs = _launch(database, ws, T0)
    lanes.emit(jobs)
    lanes.simulate(T0, T0 + timedelta(seconds=30))
    sent = _sent_seconds(database, ws)
    assert len(sent) == 12
    assert sum(t < 1 for t in sent) <= 8  # the tighter rate, 4/s, with a burst of 4
    assert 1.9 <= sent[-1] <= 2.1  # (12 - 4) / 4 s
    assert max(r.claimed for r in lanes.reports) == 4
