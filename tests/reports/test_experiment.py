"""A simulated experiment with known true rates, run end to end through the ledger, the goal
events, conversion attribution and the report: the report names the truly better variant."""

from __future__ import annotations

import random
from datetime import timedelta

from tests.campaigns.helpers import T0, add_users
from tests.fixtures.assertions import ok
from tests.reports.helpers import add_deliveries, add_events, make_campaign

TRUE_RATES = {"control": 0.04, "A": 0.05, "B": 0.08}
USERS_PER_ARM = 3000


def test_the_report_declares_the_variant_with_the_higher_true_rate(client, tenant, database):
    goal = {"event": "purchase", "window_hours": 72}
    campaign = make_campaign(client, tenant, goal=goal, control_percent=33)
    rng = random.Random(6)
    arms = [arm for arm in TRUE_RATES for _ in range(USERS_PER_ARM)]
    users = add_users(database, tenant.workspace_id, [{"external_id": f"u{i}"} for i in range(len(arms))])
    rows, events = [], []
    for user, arm in zip(users, arms, strict=True):
        control = arm == "control"
        rows.append({"user_id": user, "variant": arm, "status": "suppressed:control" if control else "sent"})
        if rng.random() < TRUE_RATES[arm]:
            events.append((user, "purchase", T0 + timedelta(hours=rng.uniform(0.1, 71)), {}))
        if rng.random() < 0.02:  # noise: outside the window, or another event
            events.append((user, "purchase", T0 + timedelta(hours=100), {}))
    add_deliveries(database, tenant.workspace_id, campaign, rows)
    add_events(database, tenant.workspace_id, events)

    variants = ok(client.get(f"/v1/reports/campaigns/{campaign}", headers=tenant.secret_headers))["variants"]

    assert variants["reference"] == "control"
    assert variants["winner"] == "B"
    by_name = {a["name"]: a for a in variants["arms"]}
    assert {name: a["exposures"] for name, a in by_name.items()} == dict.fromkeys(TRUE_RATES, USERS_PER_ARM)
    assert by_name["B"]["probability_best"] > 0.95
    for name, rate in TRUE_RATES.items():
        assert by_name[name]["interval_low"] <= rate <= by_name[name]["interval_high"]
