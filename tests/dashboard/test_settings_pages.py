"""Settings: quiet hours and frequency caps, and provider credentials, changed by owners and
admins only (checked on the server); secrets are never sent back to the browser, and an
empty secret input keeps the stored secret."""

from __future__ import annotations

import re
from datetime import time

import pytest

from app.credentials import service as credentials
from app.credentials.crypto import CredentialBox
from app.delivery import policy
from app.delivery.schemas import DeliveryPolicyBody
from tests.dashboard.helpers import member_browser, post, sign_up

PASSWORD = "smtp-pass-Zq81"
SMTP = {
    "smtp.host": "mail.example.com",
    "smtp.port": "2525",
    "smtp.security": "starttls",
    "smtp.username": "mailer",
    "smtp.password": PASSWORD,
    "smtp.from_email": "news@example.com",
    "smtp.from_name": "Acme <News>",
}


@pytest.fixture
def workspace(browser):  # type: ignore[no-untyped-def]
    return sign_up(browser())


def _settings(workspace_id) -> str:  # type: ignore[no-untyped-def]
    return f"/dashboard/w/{workspace_id}/settings"


def _post(client, workspace_id, path: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    return post(client, _settings(workspace_id) + path, data, token_from=_settings(workspace_id))


def _policy(database, workspace_id) -> DeliveryPolicyBody:  # type: ignore[no-untyped-def]
    with database.transaction(workspace_id) as session:
        return policy.get(session)


def _stored(database, settings, workspace_id):  # type: ignore[no-untyped-def]
    with database.transaction(workspace_id) as session:
        return credentials.load_all(session, CredentialBox(settings))


def test_quiet_hours_and_caps_are_saved_as_the_api_would(browser, database, workspace):
    admin = member_browser(browser, database, workspace, "admin")
    form = {
        "quiet_hours.start": "22:00",
        "quiet_hours.end": "08:00",
        "frequency_caps[0].channel": "",
        "frequency_caps[0].limit": "3",
        "frequency_caps[0].window_hours": "24",
        "frequency_caps[2].channel": "push",  # a blank row in between is skipped
        "frequency_caps[2].limit": "1",
        "frequency_caps[2].window_hours": "1.5",
    }
    saved = _post(admin, workspace, "/delivery", form)
    assert saved.status_code == 303
    assert saved.headers["location"].endswith("?notice=delivery-saved#delivery-title")
    stored = _policy(database, workspace)
    assert stored.quiet_hours and stored.quiet_hours.start == time(22) and stored.quiet_hours.end == time(8)
    assert [(c.channel, c.limit, c.window_hours) for c in stored.frequency_caps] == [
        (None, 3, 24),
        ("push", 1, 1.5),
    ]
    page = admin.get(_settings(workspace)).text
    assert 'name="quiet_hours.start" type="time" value="22:00"' in page
    assert 'name="frequency_caps[1].window_hours" type="number" value="1.5"' in page

    cleared = _post(admin, workspace, "/delivery", {"frequency_caps[1].limit": "", "quiet_hours.start": ""})
    assert cleared.status_code == 303
    assert _policy(database, workspace) == DeliveryPolicyBody()


def test_delivery_rule_errors_are_shown_at_their_row_and_store_nothing(browser, database, workspace):
    owner = member_browser(browser, database, workspace, "owner")
    refused = _post(
        owner,
        workspace,
        "/delivery",
        {"quiet_hours.start": "09:00", "frequency_caps[3].limit": "0", "frequency_caps[3].window_hours": "2"},
    )
    assert refused.status_code == 422
    assert re.search(r'id="f-frequency_caps\[3\].limit-error">[^<]*greater than or equal to 1', refused.text)
    assert 'id="f-quiet_hours.end-error"' in refused.text or 'id="f-quiet_hours-error"' in refused.text
    assert _policy(database, workspace) == DeliveryPolicyBody()


def test_credentials_are_saved_masked_and_never_echoed(browser, database, settings, workspace):
    owner = member_browser(browser, database, workspace, "owner")
    saved = _post(owner, workspace, "/providers/smtp", SMTP)
    assert saved.status_code == 303, saved.text
    assert _stored(database, settings, workspace)["smtp"]["password"] == PASSWORD
    page = owner.get(_settings(workspace)).text
    assert PASSWORD not in page and "…Zq81" in page  # masked, as the API shows it
    assert 'value="mail.example.com"' in page and "Acme &lt;News&gt;" in page

    # Saving again with the password left empty keeps it; other fields change.
    kept = _post(owner, workspace, "/providers/smtp", {**SMTP, "smtp.password": "", "smtp.port": "587"})
    assert kept.status_code == 303
    stored = _stored(database, settings, workspace)["smtp"]
    assert stored["password"] == PASSWORD and stored["port"] == 587

    refused = _post(
        owner,
        workspace,
        "/providers/smtp",
        {**SMTP, "smtp.password": "new-secret-77", "smtp.from_email": "nope"},
    )
    assert refused.status_code == 422
    assert 'id="f-smtp.from_email-error"' in refused.text
    assert "new-secret-77" not in refused.text and PASSWORD not in refused.text
    assert _stored(database, settings, workspace)["smtp"]["password"] == PASSWORD

    removed = post(owner, _settings(workspace) + "/providers/smtp/remove", token_from=_settings(workspace))
    assert removed.status_code == 303 and "smtp" not in _stored(database, settings, workspace)


def test_a_generated_vapid_key_is_kept_when_saving_again(browser, database, settings, workspace):
    owner = member_browser(browser, database, workspace, "owner")
    form = {"webpush.subject": "mailto:ops@example.com", "webpush.vapid_private_key": ""}
    assert _post(owner, workspace, "/providers/webpush", form).status_code == 303
    first = _stored(database, settings, workspace)["webpush"]["vapid_private_key"]
    assert (
        _post(
            owner, workspace, "/providers/webpush", {**form, "webpush.subject": "https://example.com"}
        ).status_code
        == 303
    )
    again = _stored(database, settings, workspace)["webpush"]
    assert again["vapid_private_key"] == first and again["subject"] == "https://example.com"
    page = owner.get(_settings(workspace)).text
    assert "BEGIN" not in page and "Public key for your web app" in page
    bad_json = _post(owner, workspace, "/providers/fcm", {"fcm.service_account": "{not json"})
    assert bad_json.status_code == 422 and "Not valid JSON." in bad_json.text


@pytest.mark.parametrize("role", ["marketer", "analyst", "viewer"])
def test_only_owners_and_admins_change_settings(browser, database, settings, workspace, role):
    owner = member_browser(browser, database, workspace, "owner")
    assert _post(owner, workspace, "/providers/smtp", SMTP).status_code == 303
    member = member_browser(browser, database, workspace, role)
    page = member.get(_settings(workspace))
    assert page.status_code == 200
    assert "Save delivery rules" not in page.text and "Save Email (SMTP)" not in page.text
    assert "configured" in page.text and "…Zq81" not in page.text and "mail.example.com" not in page.text
    for path, data in (
        ("/delivery", {"quiet_hours.start": "22:00", "quiet_hours.end": "08:00"}),
        ("/providers/smtp", {**SMTP, "smtp.host": "evil.example.com"}),
        ("/providers/smtp/remove", {}),
        ("", {"name": "Taken over", "timezone": "UTC"}),
    ):
        assert _post(member, workspace, path, data).status_code == 403, path
    assert _policy(database, workspace) == DeliveryPolicyBody()
    assert _stored(database, settings, workspace)["smtp"]["host"] == "mail.example.com"


def test_unknown_provider_is_not_found(browser, database, workspace):
    owner = member_browser(browser, database, workspace, "owner")
    assert _post(owner, workspace, "/providers/carrier-pigeon", {}).status_code == 404
