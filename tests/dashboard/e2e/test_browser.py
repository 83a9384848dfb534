"""The dashboard in a real browser: sign up -> create an API key -> users arrive through the
API -> search and open a profile; and a viewer cannot create keys or change settings."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.dashboard.e2e.flows import create_key, open_section, send_users, sign_up
from tests.dashboard.helpers import PASSWORD

pytestmark = pytest.mark.slow


def test_sign_up_key_users_search_and_profile(live_server, new_page, screenshot):
    page = new_page()
    overview = sign_up(page, live_server)
    assert page.get_by_role("status").inner_text().startswith("Your workspace is ready")
    screenshot(page, "01-overview-empty")

    key = create_key(page)
    assert key.startswith("nk_sec_")
    assert page.get_by_role("heading", name="Copy your new secret key now").is_visible()
    screenshot(page, "02-api-keys-new")
    page.reload()  # a GET of the page: the key is gone for good
    assert key not in page.content()

    send_users(live_server, key)

    open_section(page, "Users")
    rows = page.locator("a.row-link")
    assert rows.all_inner_texts() == ["user-2", "user-1", "user-0"]
    screenshot(page, "03-users")

    page.get_by_label("External id or email").fill("person1@example.com")  # htmx: results as you type
    expect(page.locator("a.row-link")).to_have_count(1)
    assert rows.all_inner_texts() == ["user-1"]
    assert "q=person1%40example.com" in page.url  # the search is in the address, so it can be shared
    page.get_by_label("External id or email").fill("")
    page.get_by_label("Attribute").fill("plan")
    page.get_by_label("Value").fill("pro")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("a.row-link")).to_have_count(2)
    assert rows.all_inner_texts() == ["user-2", "user-0"]
    screenshot(page, "04-users-search")

    page.get_by_label("Attribute").fill("")
    page.get_by_label("Value").fill("")
    page.get_by_label("External id or email").fill("user-1")
    expect(page.locator("a.row-link")).to_have_count(1)
    rows.first.click()
    page.wait_for_url(re.compile(r".*/users/[0-9a-f-]{36}$"))
    assert page.get_by_role("heading", name="user-1", exact=True).is_visible()
    # The attribute holding a script shows as text and never runs (a dialog would fail the test).
    assert page.get_by_text("<script>alert('owned')</script>").is_visible()
    assert page.get_by_text("iOS (APNs)").is_visible()
    assert sorted(page.locator(".timeline strong").all_inner_texts()) == ["app_open", "purchase"]
    page.get_by_text("2 properties").click()
    assert '"item":"<b>shoes</b>"' in page.locator(".timeline pre").inner_text()  # as text, not bold
    screenshot(page, "05-user-profile")

    open_section(page, "Settings")
    page.get_by_label("Default time zone").fill("Europe/Atlantis")
    page.get_by_role("button", name="Save changes").click()
    assert "is not an IANA time zone" in page.locator("#f-timezone-error").inner_text()
    page.get_by_label("Default time zone").fill("Asia/Kathmandu")
    page.get_by_role("button", name="Save changes").click()
    assert page.get_by_role("status").inner_text() == "Settings saved."
    screenshot(page, "06-settings")
    page.goto(overview)
    assert page.get_by_text("Default time zone Asia/Kathmandu.").is_visible()


def test_a_viewer_cannot_create_keys_or_change_settings(live_server, new_page, screenshot):
    owner = new_page()
    overview = sign_up(owner, live_server)
    open_section(owner, "Members")
    owner.get_by_label("Email").fill("viewer@example.com")
    owner.get_by_label("Role").select_option("viewer")
    owner.get_by_role("button", name="Create invitation link").click()
    link = owner.locator("#invite-link").inner_text().strip()
    screenshot(owner, "07-members-invited")

    viewer = new_page()
    viewer.goto(link)
    assert viewer.get_by_role("heading", name="Join Acme Shoes").is_visible()
    screenshot(viewer, "08-invitation")
    viewer.get_by_label("Your name").fill("Vic Viewer")
    viewer.get_by_label("Password", exact=True).fill(PASSWORD)
    viewer.get_by_label("Password, again").fill(PASSWORD)
    viewer.get_by_role("button", name="Create account and join").click()
    viewer.wait_for_url(overview + "?notice=joined")

    nav = viewer.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link").all_inner_texts() == [
        "Overview",
        "Campaigns",
        "Journeys",
        "Content",
        "API keys",
        "Members",
        "Settings",
    ]  # no Users

    open_section(viewer, "API keys")
    assert viewer.get_by_role("button", name="Create key").count() == 0
    assert viewer.get_by_text("Only owners and admins can create and revoke keys.").is_visible()
    screenshot(viewer, "09-viewer-api-keys")
    # The server refuses even a hand-made request carrying the viewer's own valid CSRF token.
    status = viewer.evaluate(
        """async () => {
            const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token'];
            const body = new URLSearchParams({csrf_token: token, name: 'sneaky', kind: 'secret'});
            return (await fetch(location.pathname, {method: 'POST', body})).status;
        }"""
    )
    assert status == 403

    open_section(viewer, "Settings")
    assert viewer.get_by_role("button", name="Save changes").count() == 0
    status = viewer.evaluate(
        """async () => {
            const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token'];
            const body = new URLSearchParams({csrf_token: token, name: 'Hijacked', timezone: 'UTC'});
            return (await fetch(location.pathname, {method: 'POST', body})).status;
        }"""
    )
    assert status == 403
    screenshot(viewer, "10-viewer-settings")

    owner.goto(overview)
    assert owner.get_by_role("heading", name="Acme Shoes").is_visible()
    open_section(owner, "API keys")
    assert owner.get_by_text("No keys yet").is_visible()
