"""Campaign pages: the list, the composer (drafts, field errors, live preview, wave), the
campaign page and its life-cycle actions, each role checked on the server."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from app.models import Campaign, Role
from app.operators.permissions import Permission, can
from app.segments import service as segments
from tests.campaigns.helpers import Lanes, add_users
from tests.dashboard.helpers import member_browser, post, sign_up

SCRIPT = "<script>alert('owned')</script>"


@pytest.fixture
def workspace(browser, database):  # type: ignore[no-untyped-def]
    workspace_id = sign_up(browser())
    add_users(
        database,
        workspace_id,
        [
            {
                "external_id": "ada",
                "first_name": "Ada",
                "timezone": "Asia/Kathmandu",
                "attributes": {"plan": "pro"},
            },
            {
                "external_id": "bob",
                "first_name": SCRIPT,
                "timezone": "America/New_York",
                "attributes": {"bio": SCRIPT},
            },
            {"external_id": "cy", "first_name": "Cy", "timezone": None, "attributes": {}},
        ],
    )
    return workspace_id


def _form(**changes: str) -> dict[str, str]:
    form = {
        "name": "Spring sale",
        "channel": "in_app",
        "variants[0].key": "A",
        "variants[0].content.title": "Hi {{ user.first_name }}",
        "variants[0].content.body": "Your plan: {{ user.attributes.plan }}",
        "audience.type": "all",
        "schedule.type": "local",
        "schedule.date": (date.today() + timedelta(days=2)).isoformat(),
        "schedule.time": "09:00",
        "schedule.past_zones": "next_day",
        "limits.quiet_hours": "defer",
    }
    form.update(changes)
    return form


def _stored(database, workspace_id) -> list[Campaign]:  # type: ignore[no-untyped-def]
    with database.transaction(workspace_id) as session:
        return list(session.scalars(select(Campaign)))


def _create(client, workspace_id: uuid.UUID, **changes: str) -> uuid.UUID:  # type: ignore[no-untyped-def]
    response = post(client, f"/dashboard/w/{workspace_id}/campaigns/new", _form(**changes))
    assert response.status_code == 303, response.text
    return uuid.UUID(response.headers["location"].split("/")[5])


def test_list_shows_status_channel_schedule_and_numbers(browser, database, workspace):
    client = member_browser(browser, database, workspace, "marketer")
    listing = client.get(f"/dashboard/w/{workspace}/campaigns")
    assert listing.status_code == 200
    assert "No campaigns yet" in listing.text
    assert f'href="/dashboard/w/{workspace}/campaigns" aria-current="page"' in listing.text
    campaign_id = _create(client, workspace, name="Launch <b>week</b>")
    listing = client.get(f"/dashboard/w/{workspace}/campaigns")
    assert "Launch &lt;b&gt;week&lt;/b&gt;" in listing.text
    assert "Draft" in listing.text and "In-app" in listing.text
    assert "at 09:00 in each user's zone" in listing.text
    assert f"/campaigns/{campaign_id}" in listing.text


def test_the_composer_saves_a_draft_as_the_api_would(browser, database, workspace):
    client = member_browser(browser, database, workspace, "marketer")
    day = (date.today() + timedelta(days=3)).isoformat()
    form = _form(
        channel="email",
        **{
            "variants[0].content.subject": "Hello {{ user.first_name }}",
            "variants[0].content.html": "<p>Hi {{ user.first_name }}</p>",
            "variants[0].weight": "3",
            "variants[1].key": "B",
            "variants[1].content.subject": "Psst",
            "variants[1].content.text": "Plain",
            "control_percent": "10",
            "audience.type": "users",
            "audience.external_ids": "ada\nbob\n",
            "schedule.date": day,
            "goal.event": "purchase",
        },
    )
    response = post(client, f"/dashboard/w/{workspace}/campaigns/new", {**form, "next": "review"})
    assert response.status_code == 303
    [campaign] = _stored(database, workspace)
    assert response.headers["location"] == f"/dashboard/w/{workspace}/campaigns/{campaign.id}"
    assert campaign.status == "draft" and campaign.channel == "email"
    assert campaign.variants == [
        {
            "key": "A",
            "weight": 3,
            "content": {"subject": "Hello {{ user.first_name }}", "html": "<p>Hi {{ user.first_name }}</p>"},
        },
        {"key": "B", "weight": 1, "content": {"subject": "Psst", "text": "Plain"}},
    ]  # the in-app title and body typed earlier are not part of an email
    assert campaign.control_percent == 10
    assert campaign.audience == {"type": "users", "external_ids": ["ada", "bob"]}
    assert campaign.schedule["date"] == day and campaign.schedule["time"] == "09:00:00"
    assert campaign.goal == {"event": "purchase", "window_hours": 72, "after": "delivery", "properties": {}}

    edit = client.get(f"/dashboard/w/{workspace}/campaigns/{campaign.id}/edit")
    assert edit.status_code == 200
    assert 'value="Hello {{ user.first_name }}"' in edit.text
    assert "ada\nbob</textarea>" in edit.text
    changed = post(
        client,
        f"/dashboard/w/{workspace}/campaigns/{campaign.id}/edit",
        {**form, "name": "Renamed", "goal.event": ""},
    )
    assert changed.status_code == 303
    assert changed.headers["location"].endswith("/edit?notice=draft-saved")
    [campaign] = _stored(database, workspace)
    assert campaign.name == "Renamed" and campaign.goal is None


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"channel": "email"}, "variants[0].content.subject", "Email content needs subject"),
        ({"schedule.date": ""}, "schedule.date", "Field required"),
        (
            {"variants[0].content.title": "Hi {{ user.first_name "},
            "variants[0].content.title",
            "unexpected end of template",
        ),
        ({"name": ""}, "name", "at least 1 character"),
        ({"audience.type": "users"}, "audience.external_ids", "at least 1 item"),
    ],
)
def test_refusals_are_shown_on_the_field_and_store_nothing(
    browser, database, workspace, changes, field, message
):
    client = member_browser(browser, database, workspace, "marketer")
    response = post(client, f"/dashboard/w/{workspace}/campaigns/new", _form(**changes))
    assert response.status_code == 422
    error = re.search(rf'id="f-{re.escape(field)}-error">([^<]*)<', response.text)
    assert error, response.text
    assert message in error.group(1)
    name = re.escape(field)
    described = rf'name="{name}"[^>]*aria-describedby="[^"]*f-{name}-error" aria-invalid="true"'
    assert re.search(described, response.text)
    assert _stored(database, workspace) == []


def test_preview_renders_for_a_real_user_and_escapes_their_data(browser, database, workspace):
    client = member_browser(browser, database, workspace, "marketer")
    token_page = f"/dashboard/w/{workspace}/campaigns/new"
    preview = f"/dashboard/w/{workspace}/campaigns/preview"
    in_app = post(client, preview, {**_form(), "preview_user": "ada"}, token_from=token_page)
    assert in_app.status_code == 200
    assert "Hi Ada" in in_app.text and "Your plan: pro" in in_app.text
    hostile = post(client, preview, {**_form(), "preview_user": "bob"}, token_from=token_page)
    assert "Hi &lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in hostile.text
    assert "<script>" not in hostile.text
    email = _form(
        channel="email",
        **{
            "variants[0].content.subject": "S",
            "variants[0].content.html": "<p>{{ user.attributes.bio }}</p>",
        },
    )
    framed = post(client, preview, {**email, "preview_user": "bob"}, token_from=token_page)
    # Escaped by the html template, then as the srcdoc attribute: shown as text, inside a sandbox.
    assert 'sandbox="" title="Email body preview" srcdoc="&lt;p&gt;&amp;lt;script&amp;gt;' in framed.text
    missing = post(client, preview, {**_form(), "preview_user": "nobody"}, token_from=token_page)
    assert "<code>preview_user</code>: no user with external_id &#39;nobody&#39;" in missing.text


def test_composer_lists_attribute_names_to_insert(browser, database, workspace):
    client = member_browser(browser, database, workspace, "marketer")
    page = client.get(f"/dashboard/w/{workspace}/campaigns/new")
    assert "{{ user.attributes.plan }}" in page.text and "{{ user.attributes.bio }}" in page.text
    assert "{{ user.first_name }}" in page.text


def test_the_wave_shows_each_zone_at_nine_local(browser, database, workspace):
    client = member_browser(browser, database, workspace, "marketer")
    day = date(date.today().year + 1, 1, 15)  # winter: no zone of the three is on summer time
    wave = post(
        client,
        f"/dashboard/w/{workspace}/campaigns/wave",
        _form(**{"schedule.date": day.isoformat()}),
        token_from=f"/dashboard/w/{workspace}/campaigns/new",
    )
    assert wave.status_code == 200
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td class=\"num\">(\d+)</td></tr>", wave.text)
    assert rows == [  # 09:00 local in each zone; cy has no zone and gets the workspace's
        ("Asia/Kathmandu", f"{day.isoformat()} 03:15 UTC", "1"),
        ("Europe/Berlin", f"{day.isoformat()} 08:00 UTC", "1"),
        ("America/New_York", f"{day.isoformat()} 14:00 UTC", "1"),
    ]
    assert wave.text.count("<rect ") == 3  # three distinct UTC hours
    broken = post(
        client,
        f"/dashboard/w/{workspace}/campaigns/wave",
        _form(**{"schedule.date": ""}),
        token_from=f"/dashboard/w/{workspace}/campaigns/new",
    )
    assert "Complete the schedule to see it." in broken.text


@pytest.mark.parametrize("role", list(Role))
def test_composing_needs_edit_messaging(browser, database, workspace, role):
    client = member_browser(browser, database, workspace, role)
    allowed = can(role, Permission.edit_messaging)
    listing = client.get(f"/dashboard/w/{workspace}/campaigns")
    assert listing.status_code == 200  # every member reads campaigns
    assert ("New campaign" in listing.text) == allowed
    assert client.get(f"/dashboard/w/{workspace}/campaigns/new").status_code == (200 if allowed else 403)
    response = post(
        client,
        f"/dashboard/w/{workspace}/campaigns/new",
        _form(),
        token_from=f"/dashboard/w/{workspace}/campaigns",
    )
    assert response.status_code == (303 if allowed else 403)
    assert len(_stored(database, workspace)) == (1 if allowed else 0)


@pytest.mark.parametrize("role", list(Role))
def test_launching_needs_launch_even_with_a_valid_token(browser, database, workspace, role):
    campaign_id = _create(member_browser(browser, database, workspace, "marketer"), workspace)
    client = member_browser(browser, database, workspace, role)
    page = f"/dashboard/w/{workspace}/campaigns/{campaign_id}"
    shown = client.get(page)
    assert shown.status_code == 200
    allowed = can(role, Permission.launch)
    assert (">Launch</button>" in shown.text) == allowed
    response = post(client, f"{page}/launch", token_from=page)
    assert response.status_code == (303 if allowed else 403)
    assert _stored(database, workspace)[0].status == ("scheduled" if allowed else "draft")


def test_launch_pause_resume_cancel_and_deliveries_on_the_page(browser, database, sink, workspace):
    client = member_browser(browser, database, workspace, "marketer")
    campaign_id = _create(client, workspace, **{"schedule.type": "immediate"})
    page = f"/dashboard/w/{workspace}/campaigns/{campaign_id}"
    launched = post(client, f"{page}/launch", token_from=page)
    assert launched.headers["location"] == f"{page}?notice=campaign-launch"
    again = post(client, f"{page}/launch", token_from=page)
    assert again.status_code == 409  # a second click launches nothing
    lanes = Lanes(database)
    lanes.emit(sink.jobs)  # the jobs the launch queued after its commit
    lanes.run(datetime.now(UTC))
    assert _stored(database, workspace)[0].status == "running"
    shown = client.get(page)
    assert re.search(r"<dt>Sent</dt><dd>3</dd>", shown.text)
    assert "<td>A</td><td>sent 3</td>" in shown.text
    assert ">Pause</button>" in shown.text and ">Resume</button>" not in shown.text

    assert post(client, f"{page}/pause", token_from=page).status_code == 303
    assert _stored(database, workspace)[0].status == "paused"
    assert ">Resume</button>" in client.get(page).text
    assert post(client, f"{page}/resume", token_from=page).status_code == 303
    assert _stored(database, workspace)[0].status == "running"
    assert post(client, f"{page}/cancel", token_from=page).status_code == 303
    assert _stored(database, workspace)[0].status == "cancelled"
    assert "</button>" not in client.get(page).text.split('class="page-actions"')[1].split("</div>")[0]
    assert post(client, f"{page}/resume", token_from=page).status_code == 409
    assert post(client, f"{page}/explode", token_from=page).status_code == 404


def test_launched_campaigns_cannot_be_edited(browser, database, workspace):
    client = member_browser(browser, database, workspace, "marketer")
    campaign_id = _create(client, workspace)
    page = f"/dashboard/w/{workspace}/campaigns/{campaign_id}"
    assert post(client, f"{page}/launch", token_from=page).status_code == 303
    assert client.get(f"{page}/edit").status_code == 409


def test_a_test_send_goes_to_the_named_users_now(browser, database, workspace):
    client = member_browser(browser, database, workspace, "marketer")
    campaign_id = _create(client, workspace)
    page = f"/dashboard/w/{workspace}/campaigns/{campaign_id}"
    sent = post(
        client, f"{page}/test-send", {"test_variant": "A", "test_recipients": "ada, bob"}, token_from=page
    )
    assert sent.status_code == 200
    assert re.findall(r"<tr><td>(\w+)</td><td>(\w+)</td>", sent.text) == [("ada", "sent"), ("bob", "sent")]
    assert re.search(r"<dt>Messages</dt><dd>0</dd>", sent.text)  # outside the campaign's ledger
    unknown = post(client, f"{page}/test-send", {"test_recipients": "zed"}, token_from=page)
    assert unknown.status_code == 422
    assert "No user with external_id &#39;zed&#39;." in unknown.text
    assert 'id="f-test_recipients-error"' in unknown.text
    empty = post(client, f"{page}/test-send", {"test_recipients": ""}, token_from=page)
    assert empty.status_code == 422 and "Name at least one user." in empty.text


@pytest.mark.parametrize("role", [Role.analyst, Role.viewer])
def test_readers_cannot_send_tests(browser, database, workspace, role):
    campaign_id = _create(member_browser(browser, database, workspace, "marketer"), workspace)
    client = member_browser(browser, database, workspace, role)
    page = f"/dashboard/w/{workspace}/campaigns/{campaign_id}"
    assert "Send test" not in client.get(page).text
    response = post(client, f"{page}/test-send", {"test_recipients": "ada"}, token_from=page)
    assert response.status_code == 403


def test_the_composer_takes_sixteen_variants_and_a_saved_segment(browser, database, workspace):
    client = member_browser(browser, database, workspace, "marketer")
    definition = {
        "version": 1,
        "match": {"type": "attribute", "attribute": "plan", "op": "eq", "value": "pro"},
    }
    with database.transaction(workspace) as session:
        segment = segments.create(session, name="Pro <i>plan</i>", description=None, definition=definition)
        segment_id = segment.id
    composer = client.get(f"/dashboard/w/{workspace}/campaigns/new")
    assert f'<option value="{segment_id}">Pro &lt;i&gt;plan&lt;/i&gt;</option>' in composer.text
    assert composer.text.count('class="variant"') == 16  # all slots, the unused ones hidden
    variants = {}
    for slot, key in enumerate("ABCDEFGHIJKLMNOP"):
        variants[f"variants[{slot}].key"] = key
        variants[f"variants[{slot}].weight"] = str(slot + 1)
        variants[f"variants[{slot}].content.title"] = f"Title {key}"
        variants[f"variants[{slot}].content.body"] = "Body"
    form = _form(
        **variants,
        control_percent="20",
        **{"audience.type": "segment", "audience.segment_id": str(segment_id)},
    )
    campaign_id = _create(client, workspace, **form)
    [campaign] = _stored(database, workspace)
    assert campaign.id == campaign_id
    assert [v["key"] for v in campaign.variants] == list("ABCDEFGHIJKLMNOP")
    assert [v["weight"] for v in campaign.variants] == list(range(1, 17))
    assert campaign.control_percent == 20
    assert campaign.audience == {"type": "segment", "segment_id": str(segment_id)}
    edit = client.get(f"/dashboard/w/{workspace}/campaigns/{campaign_id}/edit")
    assert f'<option value="{segment_id}" selected>' in edit.text
    assert " hidden>" not in edit.text.split('id="add-variant"')[0].split("step-content")[1]  # all 16 open

    wave = post(
        client,
        f"/dashboard/w/{workspace}/campaigns/wave",
        form,
        token_from=f"/dashboard/w/{workspace}/campaigns/new",
    )
    assert "<strong>1</strong> user receive" in wave.text  # ada is the one pro user

    missing = post(client, f"/dashboard/w/{workspace}/campaigns/new", _form(**{"audience.type": "segment"}))
    assert missing.status_code == 422 and 'id="f-audience.segment_id-error"' in missing.text
