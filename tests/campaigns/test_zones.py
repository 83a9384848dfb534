"""Local-time sends across zones, with a controllable clock: each user's delivery instant is
asserted exactly, including DST change days in US, EU and Lord Howe zones."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from app.campaigns import service
from app.campaigns.schemas import CampaignCreate
from app.models import Workspace
from tests.campaigns.helpers import Lanes, add_users, campaign_body, deliveries

ZONES = [
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "America/St_Johns",
    "Atlantic/Azores",
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/Istanbul",
    "Africa/Lagos",
    "Asia/Tehran",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Yangon",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Adelaide",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
    "Pacific/Chatham",
    "Pacific/Tongatapu",
    "Pacific/Kiritimati",
    "Pacific/Marquesas",
    "Pacific/Honolulu",
]
WORKSPACE_ZONE = "Pacific/Marquesas"

# Instants worked out by hand from each zone's rules (gap: the first valid instant after;
# overlap: the first occurrence).
SPOT_CHECKS = {
    ("2026-03-08", "02:30"): {  # US spring forward: 02:30 does not exist
        "America/New_York": "2026-03-08T07:00Z",
        "America/Los_Angeles": "2026-03-08T10:00Z",
        "Asia/Kathmandu": "2026-03-07T20:45Z",  # +05:45
        "Pacific/Chatham": "2026-03-07T12:45Z",  # +13:45 (summer)
        "Pacific/Kiritimati": "2026-03-07T12:30Z",  # +14:00
        "Pacific/Marquesas": "2026-03-08T12:00Z",  # -09:30
        "Australia/Lord_Howe": "2026-03-07T15:30Z",  # +11:00 (summer)
        "Europe/Berlin": "2026-03-08T01:30Z",
    },
    ("2026-11-01", "01:30"): {  # US fall back: 01:30 happens twice, the first counts
        "America/New_York": "2026-11-01T05:30Z",
        "America/Chicago": "2026-11-01T06:30Z",
    },
    ("2026-03-29", "02:30"): {  # EU spring forward
        "Europe/Berlin": "2026-03-29T01:00Z",
        "Europe/London": "2026-03-29T01:30Z",
        "America/New_York": "2026-03-29T06:30Z",
    },
    ("2026-10-25", "02:30"): {  # EU fall back
        "Europe/Berlin": "2026-10-25T00:30Z",
        "Europe/London": "2026-10-25T02:30Z",
    },
    ("2026-10-04", "02:15"): {  # Lord Howe's half-hour spring forward (02:00 -> 02:30)
        "Australia/Lord_Howe": "2026-10-03T15:30Z",
        "Pacific/Chatham": "2026-10-03T12:30Z",  # +13:45 since 27 September
    },
    ("2026-04-05", "01:45"): {  # Lord Howe's half-hour fall back (02:00 -> 01:30)
        "Australia/Lord_Howe": "2026-04-04T14:45Z",
    },
}


def _oracle(day: date, wall: time, zone: str) -> datetime:
    """The first minute whose local reading is at or after the wall time, by scanning forward
    (an algorithm independent of the planner's)."""
    target = datetime.combine(day, wall)
    tz = ZoneInfo(zone)
    t = datetime.combine(day - timedelta(days=1), time(0), UTC)
    while t.astimezone(tz).replace(tzinfo=None) < target:
        t += timedelta(minutes=1)
    return t


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(("day", "wall"), list(SPOT_CHECKS))
def test_each_user_receives_at_their_local_time(database, tenant, recording, day, wall):
    ws = tenant.workspace_id
    with database.transaction(ws) as session:
        session.execute(update(Workspace).where(Workspace.id == ws).values(timezone=WORKSPACE_ZONE))
    users = [{"external_id": f"{zone}-{i}", "timezone": zone} for zone in ZONES for i in range(2)]
    users.append({"external_id": "zoneless", "timezone": None})
    ids = add_users(database, ws, users)
    zone_of = {uid: (u["timezone"] or WORKSPACE_ZONE) for uid, u in zip(ids, users, strict=True)}
    d, w = date.fromisoformat(day), time.fromisoformat(wall)
    expected = {zone: _oracle(d, w, zone) for zone in ZONES}
    for zone, text in SPOT_CHECKS[(day, wall)].items():
        assert expected[zone] == _instant(text), zone

    launched = min(expected.values()) - timedelta(days=1)
    with database.transaction(ws) as session:
        body = campaign_body(schedule={"type": "local", "date": day, "time": wall})
        campaign = service.create(session, CampaignCreate.model_validate(body))
        service.launch(session, campaign.id, now=launched)

    lanes = Lanes(database)
    waves = defaultdict(set)
    for uid, zone in zone_of.items():
        waves[expected[zone]].add(uid)
    for instant in sorted(waves):
        lanes.settle(instant - timedelta(seconds=1))
        sent = {m.user_id for m in recording.messages}
        assert not (waves[instant] & sent), f"sent before {instant}"
        lanes.settle(instant)
        sent = {m.user_id for m in recording.messages}
        assert waves[instant] <= sent, f"not sent at {instant}"

    rows = deliveries(database, ws)
    assert len(rows) == len(ids) == len(recording.messages)
    for row in rows:
        assert row.status == "sent"
        assert row.due_at == expected[zone_of[row.user_id]] == row.sent_at
    assert len(set(zone_of.values())) >= 25


PAST_ZONES = ["Asia/Kathmandu", "Europe/Berlin", "Europe/London", "America/New_York"]
LAUNCH = _instant("2026-03-08T08:30Z")  # 09:00 has passed in Kathmandu (03:15Z) and Berlin (08:00Z)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (
            {"past_zones": "next_day"},
            {
                "Asia/Kathmandu": "2026-03-09T03:15Z",
                "Europe/Berlin": "2026-03-09T08:00Z",
                "Europe/London": "2026-03-08T09:00Z",
                "America/New_York": "2026-03-08T13:00Z",
            },
        ),
        (
            {"past_zones": "skip"},
            {"Europe/London": "2026-03-08T09:00Z", "America/New_York": "2026-03-08T13:00Z"},
        ),
        (
            {"past_zones": "send_if_within", "grace_minutes": 60},
            {
                "Europe/Berlin": "2026-03-08T08:30Z",  # 30 minutes late: sent at launch
                "Europe/London": "2026-03-08T09:00Z",
                "America/New_York": "2026-03-08T13:00Z",
            },
        ),
    ],
)
def test_zones_already_past_at_launch(database, tenant, recording, policy, expected):
    from app.campaigns import preview

    ws = tenant.workspace_id
    ids = add_users(database, ws, [{"external_id": z, "timezone": z} for z in PAST_ZONES])
    zone_of = dict(zip(ids, PAST_ZONES, strict=True))
    schedule = {"type": "local", "date": "2026-03-08", "time": "09:00", **policy}
    with database.transaction(ws) as session:
        campaign = service.create(session, CampaignCreate.model_validate(campaign_body(schedule=schedule)))
        campaign, _ = service.launch(session, campaign.id, now=LAUNCH)
        shown = preview.preview(session, campaign, now=LAUNCH)
    assert {w["zone"]: w["send_at"] for w in shown["zones"] if w["send_at"]} == {
        z: _instant(t) for z, t in expected.items()
    }
    assert shown["skipped"] == len(PAST_ZONES) - len(expected)

    lanes = Lanes(database)
    for instant in sorted({_instant(t) for t in expected.values()} | {LAUNCH}):
        lanes.settle(instant)
    lanes.settle(_instant("2026-03-10T00:00Z"))
    got = {zone_of[r.user_id]: r.sent_at for r in deliveries(database, ws) if r.status == "sent"}
    assert got == {z: _instant(t) for z, t in expected.items()}
    assert len(recording.messages) == len(expected)


def test_preview_matches_the_planner_and_counts_per_hour(database, tenant, recording):
    from app.campaigns import preview

    ws = tenant.workspace_id
    users = [{"external_id": f"{z}-{i}", "timezone": z} for z in ZONES for i in range(ZONES.index(z) % 3 + 1)]
    ids = add_users(database, ws, users)
    zone_of = {uid: u["timezone"] for uid, u in zip(ids, users, strict=True)}
    launched = _instant("2026-03-01T00:00Z")
    with database.transaction(ws) as session:
        body = campaign_body(schedule={"type": "local", "date": "2026-03-08", "time": "02:30"})
        campaign = service.create(session, CampaignCreate.model_validate(body))
        campaign, _ = service.launch(session, campaign.id, now=launched)
        shown = preview.preview(session, campaign, now=launched)
    assert shown["total"] == len(ids) and shown["skipped"] == 0
    assert sum(h["users"] for h in shown["hours"]) == len(ids)
    assert all(h["hour"].minute == 0 for h in shown["hours"])
    wave = {w["zone"]: (w["send_at"], w["users"]) for w in shown["zones"]}
    assert {z: n for z, (_, n) in wave.items()} == {z: ZONES.index(z) % 3 + 1 for z in ZONES}

    lanes = Lanes(database)
    for instant in sorted({at for at, _ in wave.values()}):
        lanes.settle(instant)
    for row in deliveries(database, ws):
        assert row.sent_at == wave[zone_of[row.user_id]][0]
    assert len(recording.messages) == len(ids)


def test_preview_endpoint(client, tenant, database):
    add_users(database, tenant.workspace_id, [{"external_id": "k", "timezone": "Asia/Kathmandu"}])
    body = campaign_body(schedule={"type": "local", "date": "2099-01-01", "time": "09:00"})
    campaign = client.post("/v1/campaigns", json=body, headers=tenant.secret_headers).json()
    r = client.get(f"/v1/campaigns/{campaign['id']}/schedule-preview", headers=tenant.secret_headers)
    assert r.status_code == 200, r.text
    assert r.json()["zones"] == [{"zone": "Asia/Kathmandu", "send_at": "2099-01-01T03:15:00Z", "users": 1}]
    assert r.json()["hours"] == [{"hour": "2099-01-01T03:00:00Z", "users": 1}]
    trig = client.post(
        "/v1/campaigns",
        json=campaign_body(schedule={"type": "triggered", "event": "signup"}),
        headers=tenant.secret_headers,
    ).json()
    r = client.get(f"/v1/campaigns/{trig['id']}/schedule-preview", headers=tenant.secret_headers)
    assert r.status_code == 409 and r.json()["error"]["field"] == "schedule"
